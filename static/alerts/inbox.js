// Live updates of the alert inbox: polls the unit's JSON feed and swaps in the server-rendered rows.
// The rows come from our own template (escaped there); no inline script, so the page keeps its strict CSP.
(function () {
  "use strict";
  var table = document.getElementById("inbox");
  if (!table) { return; }
  var every = Math.max(1, parseInt(table.dataset.poll, 10) || 10) * 1000;
  var last = table.tBodies[0].innerHTML;
  function refresh() {
    fetch(table.dataset.feed, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (feed) {
        if (!feed) { return; }
        document.getElementById("inbox-status").textContent = feed.open + " open.";
        if (feed.rows_html !== last) {
          last = feed.rows_html;
          table.tBodies[0].innerHTML = feed.rows_html;
        }
      })
      .catch(function () { /* the next poll tries again */ })
      .finally(function () { window.setTimeout(refresh, every); });
  }
  window.setTimeout(refresh, every);
})();
