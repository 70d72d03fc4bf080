// Live progress of a cohort's run on the dashboard: polls the progress JSON every 2 s (a file, not an
// inline script: the CSP admits only scripts from 'self').
(function () {
  "use strict";
  var panel = document.getElementById("progress-panel");
  if (!panel) { return; }
  var bar = document.getElementById("run-progress");
  var status = document.getElementById("run-status");
  function show(run) {
    if (!run.run) { status.textContent = "No run yet."; return; }
    bar.max = Math.max(1, run.chunks_total);
    bar.value = run.chunks_done;
    status.textContent = "Run " + run.run + " " + run.status + " " + (run.progress || "") +
      " (" + run.patients_scored + "/" + run.patients_total + " patients)";
    panel.setAttribute("data-status", run.status);
  }
  function poll() {
    fetch(panel.getAttribute("data-url"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (run) { show(run); if (run.active) { setTimeout(poll, 2000); } })
      .catch(function () { setTimeout(poll, 10000); });
  }
  poll();
})();
