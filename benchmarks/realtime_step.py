"""A consumer's steps over many patients, in process: what one rescore costs in all, and in which part.

`benchmarks/realtime.py` measures the real-time door end to end, where the consumer shares two cores with the
ingestion API, the senders, PostgreSQL and Redis; `benchmarks/realtime_rescore.py` times one patient's rescore as
its state grows, with nothing stored. This times what lies between: a real `Consumer.step` over `--patients`
patients' states (PhysioNet stays put in Redis as `state_build` leaves them), each patient with `--per` new
device events per step (HR, O2Sat, Temp, SBP, MAP, Resp, real values of the stay), so every step rescores every
patient: the locks, the fold, the view, the scores, the store (rescores, events taken in, audit, served
inferences) and the score listeners (REALTIME_SCORE_LISTENERS; the product's by default: the alerts' decision).

Prints the median step and the milliseconds per rescore, then the share of each part (timed by wrapping the
functions the consumer calls; a part missing from the build under test is skipped, so older builds can be timed
by the same script).

    STRATIFY_DATA_DIR=... .venv/bin/python benchmarks/realtime_step.py [--patients 100] [--per 2] [--steps 30]
        [--database-url postgres://postgres@127.0.0.1:5432/stratify_rtstep]

It sets up its database (created when missing: migrate, models, the sandbox's registration) and uses the local
Redis (REALTIME_REDIS_URL, else redis://127.0.0.1:6379/1): the stream, its group and the states it makes are
deleted before and after.
"""

from __future__ import annotations

import argparse
import collections
import functools
import gc
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench_postgres import database_ensure  # noqa: E402  (this folder: the script's own)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
os.environ.setdefault("REALTIME_REDIS_URL", os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/1")
SOURCE = "bench-monitors"
COLUMNS = ("HR", "O2Sat", "Temp", "SBP", "MAP", "Resp")
PARTS = [  # (module, class or "", function, label): each wrapped where the consumer looks it up
    ("realtime.consumer", "", "state_apply", "fold events in (state_apply)"),
    ("realtime.consumer", "StateCopies", "read", "state view (StateCopies.read)"),
    ("realtime.consumer", "", "rescore_draft", "score (rescore_draft)"),
    ("realtime.consumer", "", "rescores_store", "store, in all (rescores_store)"),
    ("realtime.rescore", "", "audit_records_create", "  of which audit records"),
    ("realtime.rescore", "", "served_records", "  of which served inferences"),
    ("realtime.rescore", "", "_notify", "  of which score listeners"),  # builds that called them one by one;
    # later builds call them once per store (`_wrap`)
    ("realtime.consumer", "", "events_rescored", "events already rescored"),
    ("realtime.consumer", "PatientLocks", "take", "locks taken"),
    ("realtime.consumer", "PatientLocks", "renew", "locks renewed"),
    ("realtime.consumer", "PatientLocks", "release", "locks released"),
    ("redis.lock", "Lock", "acquire", "locks taken"),  # builds that took them one by one
    ("redis.lock", "Lock", "reacquire", "locks renewed"),
    ("redis.lock", "Lock", "release", "locks released"),
]


def _setup(url: str) -> int:
    """Django on the benchmark's database with models and a registration; the registration's id."""
    os.environ.update(DATABASE_URL=url, CELERY_TASK_ALWAYS_EAGER="true")
    database_ensure(url)
    import django

    django.setup()
    from django.core.management import call_command

    from realtime.models import DeviceSource
    from smart_launch.models import EhrRegistration

    call_command("migrate", verbosity=0)
    call_command("install_models", verbosity=0)
    if not EhrRegistration.objects.exists():
        call_command("sandbox_setup", verbosity=0)
        call_command("smart_demo_setup", verbosity=0)
    registration = EhrRegistration.objects.order_by("pk").first()
    assert registration is not None
    DeviceSource.objects.update_or_create(
        name=SOURCE, defaults={"registration": registration, "jwks": {"keys": []}, "enabled": True}
    )
    return int(registration.pk)


def _clear(client: Any) -> None:
    from realtime.stream import DEAD_LETTER, STREAM

    client.delete(STREAM, DEAD_LETTER)
    for name in client.scan_iter("stratify:rt:state:*"):
        client.delete(name)


def _patients(client: Any, registration_id: int, count: int, events_each: int) -> list[list[Any]]:
    """`count` stays' states put in Redis, and each patient's device events (one list per patient)."""
    from django.conf import settings
    from realtime_rescore import device_events, state_put

    from realtime.state import state_name
    from sandbox_ehr.fhir.loader import physionet

    table = Path(settings.SHARED_DATA) / "physionet2019" / "physionet2019_training_setA.csv.gz"
    stays = [s for s in physionet.stays_select(table, count * 2) if all(any(r.get(c) for r in s.rows) for c in COLUMNS)]
    start, run, out = datetime.now(UTC) - timedelta(minutes=10), time.time_ns(), []
    for i, stay in enumerate(stays[:count]):
        patient = f"Patient/{physionet.patient_fhir_id(stay.patient)}"
        state_put(
            client, state_name(registration_id, patient), physionet.stay_resources(stay, start - timedelta(hours=1))
        )
        events = device_events(registration_id, patient, start, events_each, stay.rows)
        out.append([e.model_copy(update={"source_event_id": f"{run}-{i}-{e.source_event_id}"}) for e in events])
    return out


def _wrap(totals: dict[str, float]) -> None:
    """Time each part of PARTS that this build has (see the module's text), and the score listeners."""
    import importlib

    import realtime.rescore

    for module, owner_name, name, label in PARTS:
        found: Any = importlib.import_module(module)
        owner = getattr(found, owner_name, None) if owner_name else found
        if owner is not None and hasattr(owner, name):
            setattr(owner, name, _timed(getattr(owner, name), label, totals))
    listeners = realtime.rescore.score_listeners
    if not hasattr(realtime.rescore, "_notify"):  # listeners called once per store, with the scores
        realtime.rescore.score_listeners = lambda: [  # type: ignore[assignment]
            _timed(f, "  of which score listeners", totals) for f in listeners()
        ]


def _timed(function: Any, label: str, totals: dict[str, float]) -> Any:
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[label] += time.perf_counter() - started

    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--per", type=int, default=2, help="new events per patient per step (default 2)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/stratify_rtstep"),
    )
    args = parser.parse_args()
    registration_id = _setup(args.database_url)
    from django.conf import settings

    from realtime.consumer import Consumer
    from realtime.stream import publish, stream_client
    from scoring.readiness import registry_status

    client = stream_client()
    _clear(client)
    events = _patients(client, registration_id, args.patients, args.per * args.steps)
    consumer = Consumer(name="bench-step")
    consumer.group_ensure()
    registry_status()
    publish([e[0] for e in events])  # a first step copies every state (not counted)
    consumer.step(block_ms=0)
    totals: dict[str, float] = collections.defaultdict(float)
    _wrap(totals)
    times = []
    try:
        for step in range(1, args.steps):
            publish([e for patient in events for e in patient[step * args.per : (step + 1) * args.per]])
            gc.collect()  # as the consumer's loop does between steps
            gc.freeze()
            started = time.perf_counter()
            consumer.step(block_ms=0)
            times.append((time.perf_counter() - started) * 1000)
    finally:
        _clear(client)
    rescores = len(times) * len(events)
    per = sum(times) / rescores
    print(f"{len(events)} patients, {args.per} new events each per step, listeners {settings.REALTIME_SCORE_LISTENERS}")
    print(f"step median {statistics.median(times):.1f} ms; {per:.2f} ms per rescore (all steps: {rescores} rescores)")
    for label in dict.fromkeys(label for *_, label in PARTS):
        seconds = totals.get(label, 0.0)
        print(f"  {label:34} {seconds * 1000 / rescores:6.3f} ms per rescore ({seconds * 1000 / sum(times):5.1%})")


if __name__ == "__main__":
    main()
