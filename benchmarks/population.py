"""Population stratification benchmark: patients/min end to end and from downloaded NDJSON, 1 and 2 workers, peak RSS.

Goal (issue 15): on 2 cores, >= 60,000 patients/min with exact SHAP for the sepsis model from already-downloaded
NDJSON; memory flat (worker RSS growth < 100 MB from 10k to 100k patients); 2 workers >= 1.7x one.

What it does, on its own PostgreSQL database (dropped and made again, so the stays end "now" and sepsis scores):
1. The sandbox EHR with real data: `load_sandbox_data --physionet 200 --set A` (and the 100 Synthea bundles),
   then every PhysioNet patient copied in the sandbox's store with new ids (`<id>-c<k>`, every reference
   rewritten) up to about `--export` patients. A cohort of every patient (Patient/$export) with the sepsis model.
2. End to end, with 1 then 2 Celery worker processes (`-P solo`, Redis broker): the product's run exports
   from the sandbox over HTTP (gunicorn) with Backend Services tokens, downloads, groups, scores (extract,
   ONNX, exact TreeSHAP, drivers), stores results and audit records. Prints the time of each stage.
3. From downloaded NDJSON: the chunk files of that run (real exported data) copied with new patient ids into
   runs of `--sizes` patients, chunks queued to 1 or 2 fresh workers; patients/min from the first chunk queued
   to the run's completion, and each worker's peak RSS (VmHWM). Chunk files are written a few ahead of the
   workers and removed once scored (100k patients would be ~27 GB on disk), by this process (one core is
   shared with it: ~3 % of the work).

    .venv/bin/python benchmarks/population.py [--export 1000] [--sizes 10000,30000] [--workers 1,2]
        [--chunk 200] [--redis redis://127.0.0.1:6379/0]

CPU-heavy: run it on a quiet machine (its load average is printed with each figure).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "stratify_bench_population"
QUEUE = "bench-population"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _environment(args: argparse.Namespace, port: int) -> None:
    base = args.database.rsplit("/", 1)[0]
    work = ROOT / "var" / "bench-population"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.base",
        DATABASE_URL=f"{base}/{DB_NAME}",
        REDIS_URL=args.redis,
        CELERY_TASK_DEFAULT_QUEUE=QUEUE,
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        POPULATION_DIR=str(work / "population"),
        SANDBOX_BULK_DIR=str(work / "bulk"),
        SANDBOX_BULK_RETRY_AFTER="1",
        WRITEBACK_ENABLED="false",
    )


def _fresh_database(server_url: str) -> None:
    """A new database, and no files of an earlier benchmark (run ids start again at 1)."""
    import psycopg

    shutil.rmtree(ROOT / "var" / "bench-population", ignore_errors=True)

    with psycopg.connect(f"{server_url.rsplit('/', 1)[0]}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}"')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def _manage(*command: str) -> None:
    subprocess.run([sys.executable, "manage.py", *command, "-v", "0"], cwd=ROOT, check=True, env=os.environ)


def _setup(export: int) -> None:
    started = time.monotonic()
    for command in (
        ["migrate", "--noinput"],
        ["install_models"],
        ["sandbox_setup"],
        ["smart_demo_setup"],
        ["load_sandbox_data", "--physionet", "200", "--set", "A"],
    ):
        _manage(*command)
    import django

    django.setup()
    copies = _replicate(export)
    print(f"setup: sandbox loaded, {copies} copies of each patient, in {time.monotonic() - started:.0f} s")


def _replicate(export: int) -> int:
    """Copy every PhysioNet patient's resources in the sandbox store with new ids (each of their resource ids
    holds the patient's) until there are about `export` patients; the Synthea patients stay once."""
    from django.db import connection

    from sandbox_ehr.fhir.models import FhirResource

    loaded = FhirResource.objects.filter(resource_type="Patient", resource_id__startswith="physionet-").count()
    others = FhirResource.objects.filter(resource_type="Patient").count() - loaded
    copies = max(0, -(-(export - others) // loaded) - 1)
    table = FhirResource._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {table} (resource_type, resource_id, version_id, last_updated, content, patient_id,
                    status, date_start, date_end, deleted)
                SELECT resource_type, replace(resource_id, patient_id, patient_id || '-c' || k), version_id,
                    last_updated, replace(content, patient_id, patient_id || '-c' || k), patient_id || '-c' || k,
                    status, date_start, date_end, deleted
                FROM {table}, generate_series(1, %s) AS k WHERE patient_id LIKE 'physionet-%%'""",  # noqa: S608
            [copies],
        )
    return copies


def _cohort(chunk: int) -> Any:
    from django.conf import settings

    from population.models import Cohort
    from smart_launch.models import EhrRegistration

    registration = EhrRegistration.objects.get(iss=f"{settings.PUBLIC_BASE_URL}/sandbox/fhir")
    cohort, _ = Cohort.objects.update_or_create(
        slug="bench",
        defaults={
            "title": "Benchmark: every patient",
            "registration": registration,
            "group_id": "",
            "model_names": ["sepsis"],
            "chunk_size": chunk,
            "schedule_enabled": False,
        },
    )
    return cohort


def _start_gunicorn(port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="2")
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "--config", "config/gunicorn.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("gunicorn did not start within 90 s")


def _start_workers(count: int) -> list[subprocess.Popen[bytes]]:
    from config.celery import app

    app.conf.task_default_queue = QUEUE
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "solo", "-Q", QUEUE]
            + ["--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "ERROR", "-n", f"bench{i}@%h"],
            cwd=ROOT,
            env=os.environ,
        )
        for i in range(count)
    ]
    deadline = time.monotonic() + 90
    while len(app.control.ping(timeout=1.0)) < count:
        if time.monotonic() > deadline:
            raise SystemExit("the workers did not answer within 90 s")
    return procs


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _peak_rss_mb(proc: subprocess.Popen[bytes]) -> float:
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(proc: subprocess.Popen[bytes]) -> float:
    """User + system CPU seconds the process has used (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _per_cpu(patients: int, procs: list[subprocess.Popen[bytes]], before: float) -> str:
    """Patients per minute of worker CPU since `before` (their start-up excluded): what the workers would do
    on cores of their own."""
    cpu = sum(_cpu_seconds(p) for p in procs) - before
    return f"workers' CPU {cpu:.1f} s = {patients / cpu * 60:,.0f} patients per CPU-minute"


def _load() -> str:
    return "load average " + " ".join(f"{v:.1f}" for v in os.getloadavg())


def end_to_end(cohort: Any, workers: int) -> Any:
    """One full run of the cohort on `workers` fresh workers; prints its stages and patients/min."""
    from population.models import PopulationRun
    from population.services.runs import ACTIVE, run_start

    PopulationRun.objects.filter(cohort=cohort).delete()
    procs = _start_workers(workers)
    before = sum(_cpu_seconds(p) for p in procs)
    try:
        t0 = time.monotonic()
        run = run_start(cohort=cohort, since="full")
        stages: dict[str, float] = {}
        while run.status in (PopulationRun.Status.QUEUED, *ACTIVE):
            stages.setdefault(run.status, time.monotonic() - t0)
            time.sleep(0.2)
            run.refresh_from_db()
        total = time.monotonic() - t0
        rss, cpu = [_peak_rss_mb(p) for p in procs], _per_cpu(run.patients_scored, procs, before)
    finally:
        _stop(procs)
    if run.status != PopulationRun.Status.COMPLETED:
        raise SystemExit(f"run {run.pk} ended {run.status}: {run.error}")
    marks = sorted(stages.items(), key=lambda kv: kv[1]) + [("done", total)]
    steps = ", ".join(f"{a} {b[1] - a_t:.1f} s" for (a, a_t), b in zip(marks, marks[1:], strict=False))
    print(
        f"end to end, {workers} worker(s): {run.patients_scored} patients in {total:.1f} s -> "
        f"{run.patients_scored / total * 60:,.0f} patients/min ({steps}); peak RSS per worker "
        f"{', '.join(f'{r:.0f}' for r in rss)} MB; {cpu}; {_load()}"
    )
    return run


def from_ndjson(template: Any, size: int, workers: int, ahead: int = 6) -> None:
    """Score `size` patients copied from the template run's chunk files on `workers` fresh workers."""
    from django.utils import timezone

    from population.models import PopulationRun, RunChunk
    from population.services.data import chunk_path
    from population.tasks import chunk_score

    full = RunChunk.objects.filter(run=template, patients=template.cohort.chunk_size).values_list("number", flat=True)
    sources = [chunk_path(template, n).read_bytes() for n in full]
    per_chunk = template.cohort.chunk_size
    chunks = -(-size // per_chunk)
    run = PopulationRun.objects.create(
        cohort=template.cohort,
        status=PopulationRun.Status.SCORING,
        transaction_time=template.transaction_time,
        requires_token=template.requires_token,
        patients_total=chunks * per_chunk,
        chunks_total=chunks,
        started_at=timezone.now(),
    )
    RunChunk.objects.bulk_create([RunChunk(run=run, number=n, patients=per_chunk) for n in range(chunks)])
    procs = _start_workers(workers)
    before = sum(_cpu_seconds(p) for p in procs)
    try:
        t0, written = time.monotonic(), 0
        while True:
            done = set(RunChunk.objects.filter(run=run, done=True).values_list("number", flat=True))
            for n in done:
                chunk_path(run, n).unlink(missing_ok=True)
            if len(done) == chunks:
                break
            while written < chunks and written - len(done) < ahead:
                _write_copy(chunk_path(run, written), sources[written % len(sources)], written)
                chunk_score.delay(run.pk, written)
                written += 1
            time.sleep(0.1)
        run.refresh_from_db()
        total = time.monotonic() - t0
        rss, cpu = [_peak_rss_mb(p) for p in procs], _per_cpu(run.patients_scored, procs, before)
    finally:
        _stop(procs)
    assert run.status == PopulationRun.Status.COMPLETED, run.status
    print(
        f"from NDJSON, {workers} worker(s), {run.patients_scored:,} patients ({chunks} chunks of {per_chunk}): "
        f"{total:.1f} s -> {run.patients_scored / total * 60:,.0f} patients/min; peak RSS per worker "
        f"{', '.join(f'{r:.0f}' for r in rss)} MB; {cpu}; {_load()}"
    )
    PopulationRun.objects.filter(pk=run.pk).delete()


_PATIENT_REF = re.compile(rb'("reference":"Patient/[^"]+)"|(\{"resourceType":"Patient","id":"[^"]+)"')


def _write_copy(path: Path, source: bytes, copy: int) -> None:
    """The chunk file with each patient's id, and every reference to it, suffixed `-b<copy>`."""
    suffix = b'-b%d"' % copy
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_PATIENT_REF.sub(lambda m: (m.group(1) or m.group(2)) + suffix, source))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=int, default=1000, help="patients in the sandbox (end to end)")
    parser.add_argument("--sizes", default="10000,30000", help="patients scored from NDJSON, comma-separated")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--chunk", type=int, default=200, help="patients per chunk (scoring task)")
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    port = _free_port()
    _environment(args, port)
    _fresh_database(args.database)
    _setup(args.export)
    cohort = _cohort(args.chunk)
    server = _start_gunicorn(port)
    try:
        workers = [int(w) for w in args.workers.split(",")]
        template = None
        for count in workers:
            template = end_to_end(cohort, count)
    finally:
        server.terminate()
    assert template is not None
    for size in (int(s) for s in args.sizes.split(",") if s):
        for count in workers:
            from_ndjson(template, size, count)
    print(f"(data as of {template.transaction_time:%Y-%m-%d %H:%M} UTC; chunk {args.chunk} patients)")


if __name__ == "__main__":
    main()
