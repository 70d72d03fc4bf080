"""Soak: N minutes of CDS calls at a target rate, each with a write-back to a loopback EHR; then the audit chain.

Starts gunicorn (2 sync workers, `config/gunicorn.py`) and, when a broker is configured (REDIS_URL, not eager), a
Celery worker, on the current settings and database (`migrate` + `install_models` first, or `--setup`). A loopback
EHR (tests.loopback_ehr, in this process) answers SMART discovery, tokens, searches and transaction Bundles and
counts what it commits. A benchmark CDS client (fresh ES384 key) is trusted with that EHR's FHIR base. Every call
is a patient-view of a real PhysioNet stay (the sandbox loader's code) with its own JWT and a new encounter, so each
recorded card is new information and queues a write-back (the worst case for write-back capacity).

Every `--every` seconds it prints: calls/s in the interval, errors (non-200 or no answer), p50/p99 latency, the
write-back backlog (rows pending, queue length), EHR transactions, and the resident memory of the gunicorn workers
and the Celery worker. At the end it waits (bounded) for the backlog to drain, checks that the EHR got each
delivered write-back exactly once, and verifies the audit chain.

    .venv/bin/python benchmarks/soak.py --minutes 4 --rate 20 [--setup] [--concurrency 8] [--every 15]
"""

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

from cds_patient_view import _client_key, _free_port, _pct, _prefetch, _setup, _tokens  # noqa: E402

SERVICE = "stratify-news2"


def _rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (MiB), from /proc."""
    total = 0.0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")) / 1024
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (OSError, StopIteration):
            continue
        pids += [int(child) for child in children]
    return total


def _gunicorn(port: int, log: Path) -> subprocess.Popen[bytes]:
    """gunicorn with 2 sync workers; its log to a file (a pipe nobody reads fills up and blocks the workers)."""
    env = dict(os.environ, GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="2")
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "--config", "config/gunicorn.py"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"gunicorn did not start within 120 s (log: {log})")


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-c", "2", "-l", "WARNING", "-n", "soak@%h"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


class Load:
    """Paced callers: call i is sent at start + i / rate (spread over the threads)."""

    def __init__(self, port: int, body_for: Any, tokens: list[str], rate: float) -> None:
        self.port, self.body_for, self.tokens, self.rate = port, body_for, tokens, rate
        self.lock = threading.Lock()
        self.sent = 0
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.started = time.monotonic()
        self.stop_at = 0.0

    def run(self, seconds: float, concurrency: int) -> list[threading.Thread]:
        self.started = time.monotonic()
        self.stop_at = self.started + seconds
        threads = [threading.Thread(target=self._caller, daemon=True) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        return threads

    def _next(self) -> float | None:
        """When the next call is due; None at the end (a server slower than the rate is not waited for)."""
        with self.lock:
            due = self.started + self.sent / self.rate
            self.sent += 1
        return None if max(due, time.monotonic()) >= self.stop_at else due

    def _caller(self) -> None:
        while (due := self._next()) is not None:
            time.sleep(max(0.0, due - time.monotonic()))
            with self.lock:
                token = self.tokens.pop()
            self._one(token)

    def _one(self, token: str) -> None:
        started = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            conn.request(
                "POST",
                f"/cds-services/{SERVICE}",
                body=self.body_for(),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            )
            response = conn.getresponse()
            payload = response.read()
            conn.close()
            error = "" if response.status == 200 else f"{response.status}: {payload[:200]!r}"
        except OSError as exc:
            error = repr(exc)
        with self.lock:
            if error:
                self.errors.append(error)
            else:
                self.latencies.append((time.perf_counter() - started) * 1000)


def _backlog(since: Any) -> tuple[int, int]:
    """This run's pending write-backs, and the messages waiting in the queue."""
    from fhirapp.models import WriteBack
    from fhirapp.services.writeback_delivery import write_back_queue_length

    return WriteBack.objects.filter(status="pending", created_at__gte=since).count(), write_back_queue_length()


def _report(load: Load, ehr: Any, procs: dict[str, int], last: dict[str, Any], since: Any) -> None:
    with load.lock:
        done, errors, latencies = len(load.latencies), len(load.errors), list(load.latencies[last["done"] :])
    now = time.monotonic()
    rate = (done + errors - last["done"] - last["errors"]) / (now - last["at"])
    pending, queued = _backlog(since)
    memory = " ".join(f"{name}={_rss_mib(pid):.0f}MiB" for name, pid in procs.items())
    p50 = statistics.median(latencies) if latencies else float("nan")
    p99 = _pct(latencies, 0.99) if latencies else float("nan")
    print(
        f"t={now - load.started:6.0f}s calls/s={rate:5.1f} ok={done} errors={errors} p50={p50:.0f}ms p99={p99:.0f}ms "
        f"backlog pending={pending} queued={queued} ehr_tx={ehr.state.transactions} {memory}",
        flush=True,
    )
    last.update(done=done, errors=errors, at=now)


def _drain(limit_s: float, since: Any) -> int:
    deadline = time.monotonic() + limit_s
    while (pending := _backlog(since)[0]) and time.monotonic() < deadline:
        time.sleep(2)
    return pending


def _finish(load: Load, ehr: Any, drained_in: float, pending: int, since: Any) -> None:
    from audit.chain import audit_chain_verify
    from fhirapp.models import WriteBack

    rows = WriteBack.objects.filter(created_at__gte=since)  # this run's
    statuses = {s: rows.filter(status=s).count() for s in ("succeeded", "failed", "pending")}
    ras = ehr.state.count("RiskAssessment")
    seconds = load.stop_at - load.started
    print(
        f"calls: {len(load.latencies)} ok, {len(load.errors)} errors {load.errors[:3]}; "
        f"{(len(load.latencies) + len(load.errors)) / seconds:.1f} calls/s over {seconds:.0f} s"
    )
    if load.latencies:
        print(f"latency: p50={statistics.median(load.latencies):.0f} ms p99={_pct(load.latencies, 0.99):.0f} ms")
    print(f"write-backs: {statuses}; backlog {pending} after {drained_in:.0f} s of drain")
    print(
        f"EHR: {ehr.state.transactions} transactions, {ras} RiskAssessments, "
        f"{ehr.state.count('Provenance')} Provenances"
    )
    started = time.monotonic()
    report = audit_chain_verify()
    print(
        f"audit chain: {report.checked} records, {'intact' if report.broken is None else report.broken}, "
        f"verified in {time.monotonic() - started:.1f} s"
    )


def main() -> None:
    """Set up, start the servers, load for N minutes, drain, verify, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--rate", type=float, default=20.0, help="target CDS calls per second")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--every", type=float, default=15.0, help="seconds between progress lines")
    parser.add_argument("--drain", type=float, default=180.0, help="longest wait for the backlog at the end (s)")
    parser.add_argument("--setup", action="store_true", help="migrate and install the models first")
    parser.add_argument("--log", type=Path, default=Path(tempfile.gettempdir()) / "stratify-soak-gunicorn.log")
    args = parser.parse_args()
    port = _free_port()
    _setup(port)
    import orjson
    from django.conf import settings
    from django.core.management import call_command
    from django.utils import timezone

    from tests.loopback_ehr import _serve

    if args.setup:
        call_command("migrate", "--noinput", verbosity=0)
        call_command("install_models", verbosity=0)
    call_command("smart_keys", "ensure", verbosity=0)
    ehr = _serve()
    _client_key_and_tokens = _client_key([ehr.base])
    patient_id, prefetch = _prefetch(SERVICE)
    tokens = _tokens(
        _client_key_and_tokens,
        f"http://127.0.0.1:{port}/cds-services/{SERVICE}",
        int(args.rate * args.minutes * 60 * 1.2) + 100,
    )

    def body() -> bytes:
        context = {"userId": "Practitioner/soak", "patientId": patient_id, "encounterId": f"soak-{uuid.uuid4().hex}"}
        return orjson.dumps(
            {
                "hook": "patient-view",
                "hookInstance": str(uuid.uuid4()),
                "fhirServer": ehr.base,
                "context": context,
                "prefetch": prefetch,
            }
        )

    print(
        f"{SERVICE} at {args.rate}/s for {args.minutes} min, EHR {ehr.base}, "
        f"{'eager (in-process write-back pool)' if settings.CELERY_TASK_ALWAYS_EAGER else 'Celery worker'}"
    )
    gunicorn = _gunicorn(port, args.log)
    procs = {"gunicorn": gunicorn.pid}
    worker = None if settings.CELERY_TASK_ALWAYS_EAGER else _worker(dict(os.environ))
    if worker is not None:
        procs["worker"] = worker.pid
    try:
        since = timezone.now()
        load = Load(port, body, tokens, args.rate)
        threads = load.run(args.minutes * 60, args.concurrency)
        last = {"done": 0, "errors": 0, "at": load.started}
        print(f"load average before: {os.getloadavg()} on {os.cpu_count()} CPUs", flush=True)
        while time.monotonic() < load.stop_at:
            time.sleep(max(0.0, min(args.every, load.stop_at - time.monotonic())))
            _report(load, ehr, procs, last, since)
        for thread in threads:
            thread.join()
        _report(load, ehr, procs, last, since)
        print(f"load average after: {os.getloadavg()}", flush=True)
        started = time.monotonic()
        pending = _drain(args.drain, since)
        _finish(load, ehr, time.monotonic() - started, pending, since)
    finally:
        for proc in (gunicorn, worker):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    main()
