"""One consumer's work per rescore as a patient's online state grows (in process, no HTTP, nothing stored).

`benchmarks/realtime.py` measures the real-time door end to end; its stream stays flat only when a rescore costs
about the same whatever the state holds. This isolates that cost: one PhysioNet stay is put in a patient's state in
Redis (as `state_build` leaves it), then device events (HR, O2Sat, Temp, SBP, MAP, Resp at 10 per second of
event time, as each of the end-to-end run's 20 patients gets them) are folded in two at a time, each pair followed
by what a consumer does under the patient's lock: `state_apply`, the parsed copy's view (`StateCopies.read`) and
the touched models' scores (`rescore_draft`). Nothing is stored (the store's cost does not depend on the state).

Prints, per band of state size, the median and p99 milliseconds of each part and of the whole.

    STRATIFY_DATA_DIR=... DATABASE_URL=sqlite:////tmp/rr.sqlite3 .venv/bin/python benchmarks/realtime_rescore.py \
        [--samples 6000] [--band 1000]

The database needs `migrate` and `install_models` (`make demo`, or both commands by hand); the local Redis
(REALTIME_REDIS_URL, else redis://127.0.0.1:6379/1) holds the state, under a key of its own, deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
os.environ.setdefault("REALTIME_REDIS_URL", os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/1")
COLUMNS = {"HR": ("8867-4", "/min"), "O2Sat": ("59408-5", "%"), "Temp": ("8310-5", "Cel"),
           "SBP": ("8480-6", "mm[Hg]"), "MAP": ("8478-0", "mm[Hg]"), "Resp": ("9279-1", "/min")}  # fmt: skip
PER_RESCORE = 2  # events per rescore, as the end-to-end run's consumer takes them at 200 events/s


def state_put(client: object, name: str, stay_resources: list[dict[str, object]]) -> None:
    import orjson

    from realtime.state import META

    fields = {f"{r['resourceType']}/{r['id']}": orjson.dumps(r) for r in stay_resources}
    client.delete(name)  # type: ignore[attr-defined]
    client.hset(name, mapping={**fields, META: orjson.dumps({"built_at": "bench", "ehr": len(fields)})})  # type: ignore[attr-defined]


def device_events(
    registration_id: int, patient: str, start: datetime, count: int, values: list[dict[str, str]]
) -> list:
    """`count` device events from `start` on, 0.1 s apart, cycling through the stay's columns and real values."""
    from realtime.events import VitalEvent

    out, names = [], list(COLUMNS)
    rows = [r for r in values if any(r.get(c) for c in names)]
    for i in range(count):
        column = names[i % len(names)]
        row = next(r for r in rows[i // len(names) % len(rows) :] + rows if r.get(column))
        code, unit = COLUMNS[column]
        out.append(
            VitalEvent(
                source="bench-monitors",
                source_event_id=f"e{i}",
                registration_id=registration_id,
                patient=patient,
                event_time=start + timedelta(seconds=i / 10),
                code=code,
                value=float(row[column]),
                unit=unit,
            )  # fmt: skip
        )
    return out


def _pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=6000, help="device events folded in (default 6000: 10 min)")
    parser.add_argument("--band", type=int, default=1000, help="report every this many events")
    args = parser.parse_args()
    import django

    django.setup()
    from django.conf import settings

    from realtime.rescore import rescore_draft
    from realtime.state import state_apply, state_name
    from realtime.state_copies import StateCopies
    from realtime.stream import stream_client
    from sandbox_ehr.fhir.loader import physionet
    from scoring.readiness import registry_status

    registry_status()
    stay = next(s for s in physionet.stays_select(Path(settings.SHARED_DATA) / "physionet2019" /
                                                  "physionet2019_training_setA.csv.gz", 20) if s.septic)  # fmt: skip
    now = datetime.now(UTC)
    start = now - timedelta(seconds=args.samples / 10 + 60)
    resources = physionet.stay_resources(stay, start)
    patient = f"Patient/{physionet.patient_fhir_id(stay.patient)}"
    client, registration_id = stream_client(), 0
    name = state_name(registration_id, patient)
    state_put(client, name, resources)
    copies = StateCopies(4)
    copies.read(client, registration_id, patient, None)
    events = device_events(registration_id, patient, start, args.samples, stay.rows)
    print(f"stay {stay.patient}: {len(resources)} EHR resources, then {args.samples} device events, "
          f"{PER_RESCORE} per rescore")  # fmt: skip
    print(f"{'device samples':>16} | {'apply p50/p99':>14} | {'view p50/p99':>14} | {'score p50/p99':>14} | "
          f"{'whole p50/p99 ms':>17}")  # fmt: skip
    parts: dict[str, list[float]] = {"apply": [], "view": [], "score": [], "whole": []}
    try:
        for i in range(0, args.samples, PER_RESCORE):
            step = events[i : i + PER_RESCORE]
            t0 = time.perf_counter()
            applied = state_apply(client, step, device_sources=frozenset({"bench-monitors"}))
            t1 = time.perf_counter()
            state = copies.read(client, registration_id, patient, applied.get(name))
            t2 = time.perf_counter()
            assert state is not None
            draft = rescore_draft(registration_id=registration_id, patient=patient, events=step,
                                  resources=state.parsed, as_of=state.as_of)  # fmt: skip
            t3 = time.perf_counter()
            assert draft is not None and draft.scored, "nothing scored: run install_models first"
            for part, ms in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t3 - t0), strict=True):
                parts[part].append(ms * 1000)
            if (i + PER_RESCORE) % args.band == 0:
                cells = [f"{statistics.median(v):6.2f} /{_pct(v, 0.99):6.2f}" for v in parts.values()]
                print(f"{i + PER_RESCORE - args.band:>7}-{i + PER_RESCORE:<8} | " + " | ".join(cells))
                parts = {k: [] for k in parts}
    finally:
        client.delete(name)


if __name__ == "__main__":
    main()
