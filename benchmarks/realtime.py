"""Real-time door end to end: device vitals over HTTP -> Redis Stream -> consumer(s) -> rescore (goal: 200 events/s
for 5 minutes, event-to-score p99 <= 2 s, rescoring <= 20 ms per event, no event lost, no duplicate score, a flat
stream).

Sets up its own PostgreSQL database (`--database-url`, created when missing; migrate, models, the sandbox EHR
with `--patients` PhysioNet ICU stays, our registration of it, a device source with a fresh ES256 key), starts
gunicorn (2 sync workers: the ingestion API and the sandbox EHR the consumers build their states from) and
`--consumers` `manage.py realtime_consume` processes, then sends `--rate` events per second for `--seconds`
seconds in batches of `--batch` events, each request with its own signed JWT, from a few sender threads. The
values are real PhysioNet rows of the loaded stays (HR, O2Sat, Temp, SBP, MAP, Resp), replayed with current
times; one event in twenty is late (10 to 60 minutes old), so events arrive out of order. Each patient's state
is built (one EHR fetch) in a warm-up that is not counted.

Prints: event-to-score latency p50/p99 (request sent -> the rescore that took the event in committed; clocks of
one machine), rescoring time per rescore and per event (Rescore.scoring_ms: every model scored, before the
commit), events sent / stored / scored / lost, duplicate scores, the stream's length and pending count over
time, and the load average and CPU seconds of the consumers (2 shared cores: read the figures with them).

    .venv/bin/python benchmarks/realtime.py [--seconds 300] [--rate 200] [--batch 10] [--patients 20]
        [--consumers 1] [--senders 4]
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench_postgres import database_ensure  # noqa: E402  (this folder: the script's own)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
SOURCE = "bench-monitors"
PATH = "/realtime/v1/events"
COLUMNS = ("HR", "O2Sat", "Temp", "SBP", "MAP", "Resp")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _setup(args: argparse.Namespace, port: int) -> dict[str, Any]:
    """Django on the benchmark database; models, sandbox, registration, the device source; stream emptied."""
    if args.listeners is not None:
        os.environ["REALTIME_SCORE_LISTENERS"] = args.listeners
    os.environ.update(
        DATABASE_URL=args.database_url,
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        CELERY_TASK_ALWAYS_EAGER="true",
    )
    # the stream needs a Redis: the local one (as the demo) unless REALTIME_REDIS_URL or REDIS_URL names one
    os.environ.setdefault("REALTIME_REDIS_URL", os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/1")
    database_ensure(args.database_url)
    import django

    django.setup()
    from django.core.management import call_command
    from joserfc.jwk import ECKey

    from realtime.models import DeviceSource
    from realtime.stream import DEAD_LETTER, STREAM, stream_client
    from smart_launch.models import EhrRegistration

    call_command("migrate", verbosity=0)
    for command in ("install_models", "sandbox_setup", "smart_demo_setup"):
        call_command(command, verbosity=0)
    call_command("load_sandbox_data", "--physionet", str(args.patients), "--set", "A", "--no-synthea", verbosity=0)
    registration = EhrRegistration.objects.get(iss=f"http://127.0.0.1:{port}/sandbox/fhir")
    key = ECKey.generate_key("P-256", parameters={"kid": f"bench-{uuid.uuid4().hex[:8]}", "alg": "ES256"})
    DeviceSource.objects.update_or_create(
        name=SOURCE,
        defaults={"registration": registration, "jwks": {"keys": [key.as_dict(private=False)]}, "enabled": True},
    )
    client = stream_client()
    client.delete(STREAM, DEAD_LETTER)
    for name in client.scan_iter("stratify:rt:state:*"):
        client.delete(name)
    return {"registration": registration.pk, "key": key, "values": _values(args.patients)}


def _values(patients: int) -> dict[str, list[tuple[str, float, str]]]:
    """Per loaded patient: its stay's (LOINC, value, UCUM unit) of the vitals columns, in row order (real data)."""
    from django.conf import settings

    from sandbox_ehr.fhir.loader import physionet
    from scoring.features.spec import OBSERVATION_BY_COLUMN

    path = Path(settings.SHARED_DATA) / "physionet2019" / "physionet2019_training_setA.csv.gz"
    out: dict[str, list[tuple[str, float, str]]] = {}
    for stay in physionet.stays_select(path, patients):
        rows = [
            (OBSERVATION_BY_COLUMN[c].loinc, float(row[c]), OBSERVATION_BY_COLUMN[c].unit)
            for row in stay.rows
            for c in COLUMNS
            if row.get(c, "") != ""
        ]
        if rows:
            out[f"Patient/{physionet.patient_fhir_id(stay.patient)}"] = rows
    return out


LOGS = Path(tempfile.mkdtemp(prefix="stratify-rtbench-"))  # each process's stderr (a pipe nobody read would fill)


def _start(env: dict[str, str], command: list[str], name: str) -> subprocess.Popen[bytes]:
    with (LOGS / f"{name}.log").open("wb") as log:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)


def _log_tail(name: str) -> str:
    return (LOGS / f"{name}.log").read_text(errors="replace")[-2000:]


def _wait_http(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited: {_log_tail('gunicorn')}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("gunicorn did not start within 120 s")


class Sender:
    """Sends batches of events at a fixed rate from a few threads; remembers when each event was sent."""

    def __init__(self, port: int, ctx: dict[str, Any], run: str) -> None:
        self.port, self.ctx, self.run = port, ctx, run
        self.sent: dict[str, float] = {}
        self.failed = 0
        self.lock = threading.Lock()
        self.cursor = {p: 0 for p in ctx["values"]}
        self.counter = 0

    def token(self) -> str:
        from joserfc import jwt

        now = int(time.time())
        aud = f"http://127.0.0.1:{self.port}{PATH}"
        claims = {"iss": SOURCE, "sub": SOURCE, "aud": aud, "exp": now + 240, "jti": uuid.uuid4().hex}
        header = {"alg": "ES256", "typ": "JWT", "kid": self.ctx["key"].kid}
        return jwt.encode(header, claims, self.ctx["key"], algorithms=["ES256"])

    def batch(self, size: int, patients: list[str]) -> list[dict[str, Any]]:
        events, now = [], datetime.now(UTC)
        with self.lock:
            for _ in range(size):
                patient = patients[self.counter % len(patients)]
                rows = self.ctx["values"][patient]
                code, value, unit = rows[self.cursor[patient] % len(rows)]
                self.cursor[patient] += 1
                self.counter += 1
                late = self.counter % 20 == 0
                when = now - timedelta(minutes=random.uniform(10, 60)) if late else now
                events.append(
                    {
                        "source": SOURCE,
                        "source_event_id": f"{self.run}-{self.counter}",
                        "device_id": "bench",
                        "registration_id": self.ctx["registration"],
                        "patient": patient,
                        "event_time": when.isoformat(),
                        "code": code,
                        "value": value,
                        "unit": unit,
                    }
                )
        return events

    def send(self, events: list[dict[str, Any]]) -> None:
        import orjson

        body = orjson.dumps({"events": events})
        started = time.time()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token()}"}
            conn.request("POST", PATH, body, headers)
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
        except OSError:
            ok = False
        with self.lock:
            if ok:
                self.sent.update((e["source_event_id"], started) for e in events)
            else:
                self.failed += len(events)


def _drive(sender: Sender, args: argparse.Namespace, seconds: float, patients: list[str]) -> None:
    """`args.rate` events/s for `seconds`, batches spread over `args.senders` threads on a fixed schedule."""
    interval = args.batch / args.rate
    start = time.monotonic()
    slots = int(seconds / interval)
    next_slot = [0]
    slot_lock = threading.Lock()

    def worker() -> None:
        while True:
            with slot_lock:
                slot = next_slot[0]
                next_slot[0] += 1
            if slot >= slots:
                return
            delay = start + slot * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sender.send(sender.batch(args.batch, patients))

    threads = [threading.Thread(target=worker) for _ in range(args.senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _monitor(samples: list[tuple[float, int, int]], stop: threading.Event) -> None:
    from realtime.stream import GROUP, STREAM, stream_client

    client, start = stream_client(), time.monotonic()
    while not stop.wait(1.0):
        pending = int(client.xpending(STREAM, GROUP)["pending"]) if client.exists(STREAM) else 0
        samples.append((time.monotonic() - start, int(client.xlen(STREAM)), pending))


def _covered(ids: list[str]) -> dict[str, list[tuple[datetime, float]]]:
    """source_event_id -> [(rescore committed at, rescore's scoring seconds)] (more than one = a duplicate)."""
    from realtime.models import RescoredEvent

    out: dict[str, list[tuple[datetime, float]]] = {}
    for chunk in range(0, len(ids), 5000):
        rows = RescoredEvent.objects.filter(source=SOURCE, source_event_id__in=ids[chunk : chunk + 5000]).values_list(
            "source_event_id", "rescore__scored_at", "rescore__scoring_ms"
        )
        for sid, scored_at, scoring_ms in rows:
            out.setdefault(sid, []).append((scored_at, scoring_ms / 1000))
    return out


def _wait_scored(ids: list[str], seconds: float) -> dict[str, list[tuple[datetime, float]]]:
    deadline = time.monotonic() + seconds
    covered = _covered(ids)
    while len(covered) < len(ids) and time.monotonic() < deadline:
        time.sleep(1.0)
        covered = _covered(ids)
    return covered


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1] if len(values) > 1 else values[0]


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _by_minute(sent: dict[str, float], covered: dict[str, Any], samples: list[Any]) -> None:
    """Per minute of the run: the stream's longest length and the p99 latency of the events sent in it (a
    queue that grows, or latency that climbs as the patients' states grow, shows here)."""
    start = min(sent.values())
    minutes: dict[int, list[float]] = {}
    for s, at in sent.items():
        if s in covered:
            minutes.setdefault(int((at - start) // 60), []).append(min(t for t, _ in covered[s]).timestamp() - at)
    longest: dict[int, int] = {}
    for t, n, _ in samples:
        longest[int(t // 60)] = max(longest.get(int(t // 60), 0), n)
    print(
        "per minute (stream length max / latency p99): "
        + ", ".join(
            f"{m + 1}: {longest.get(m, 0)} / {_pct(v, 99) * 1000:.0f} ms" for m, v in sorted(minutes.items()) if v
        )
    )


def _report(args: argparse.Namespace, sender: Sender, covered: dict[str, Any], samples: list[Any], cpu: float) -> None:
    from realtime.models import Rescore

    sent = sender.sent
    latencies = sorted(min(t for t, _ in covered[s]).timestamp() - sent[s] for s in sent if s in covered)
    duplicates = sum(len(v) - 1 for v in covered.values())
    runs = Rescore.objects.filter(scored_at__gte=datetime.fromtimestamp(min(sent.values()), UTC)).values_list(
        "scoring_ms", "events"
    )
    scoring = [ms / 1000 for ms, _ in runs]
    events_in = sum(n for _, n in runs)
    print(f"\nsent {len(sent)} events ({sender.failed} refused or failed) in {args.seconds:.0f} s at {args.rate}/s")
    print(f"scored {len(covered)}; lost {len(sent) - len(covered)}; duplicate scores {duplicates}")
    if latencies:
        print(
            f"event-to-score latency: p50 {_pct(latencies, 50) * 1000:.0f} ms, p99 {_pct(latencies, 99) * 1000:.0f} ms"
        )
    if scoring:
        print(
            f"rescores {len(scoring)} ({events_in / len(scoring):.1f} events each): scoring p50 "
            f"{_pct(scoring, 50) * 1000:.1f} ms, p99 {_pct(scoring, 99) * 1000:.1f} ms per rescore; "
            f"{sum(scoring) / max(events_in, 1) * 1000:.2f} ms per event"
        )
    step = max(1, len(samples) // 15)
    print(
        "stream length / pending over time (s: xlen/pending): "
        + ", ".join(f"{t:.0f}: {n}/{p}" for t, n, p in samples[::step])
    )
    _by_minute(sent, covered, samples)
    print(f"consumer CPU {cpu:.1f} s over the run; load average now {os.getloadavg()[0]:.2f}")
    print(f"the processes' logs: {LOGS}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--consumers", type=int, default=1)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/stratify_rtbench"),
    )
    parser.add_argument(
        "--listeners",
        default=None,
        help="REALTIME_SCORE_LISTENERS for the run (default: the product's, the alerts' listener; '' for none)",
    )
    args = parser.parse_args()
    port = _free_port()
    print(f"load average before: {os.getloadavg()[0]:.2f}; setting up (migrate, models, {args.patients} stays) ...")
    ctx = _setup(args, port)
    env = dict(
        os.environ,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="2",
        DJANGO_SETTINGS_MODULE="config.settings.base",
    )
    procs = [
        _start(env, [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "--config", "config/gunicorn.py"], "gunicorn")
    ]
    try:
        _wait_http(port, procs[0])
        consumers = [
            _start(env, [sys.executable, "manage.py", "realtime_consume", "--name", f"bench-{i}"], f"consumer-{i}")
            for i in range(args.consumers)
        ]
        procs += consumers
        run = uuid.uuid4().hex[:8]
        patients = sorted(ctx["values"])
        warm = Sender(port, ctx, f"{run}w")
        warm.send(warm.batch(len(patients), patients))  # one event per patient: each state is built once
        built = time.monotonic()
        _wait_scored(list(warm.sent), 300)
        print(f"warm-up: {len(patients)} patient states built from the EHR in {time.monotonic() - built:.1f} s")
        cpu0 = sum(_cpu_seconds(p.pid) for p in consumers)
        sender, stop = Sender(port, ctx, run), threading.Event()
        samples: list[tuple[float, int, int]] = []
        monitor = threading.Thread(target=_monitor, args=(samples, stop))
        monitor.start()
        _drive(sender, args, args.seconds, patients)
        covered = _wait_scored(list(sender.sent), 120)
        stop.set()
        monitor.join()
        cpu = sum(_cpu_seconds(p.pid) for p in consumers) - cpu0
        _report(args, sender, covered, samples, cpu)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
