"""The demo's "replay vitals": a PhysioNet septic stay written into the sandbox hour by hour, accelerated.

The stay is converted by the loader (`sandbox_ehr.fhir.loader.physionet.stay_resources`: the data set's values,
LOINC codes and UCUM units, shifted in time so that its last hour is now; nothing is invented). Its stored
Observations are deleted first (a deletion version each), then each hour's Observations are written as one
FHIR transaction through the sandbox's normal write path, one hour every SECONDS_PER_HOUR seconds, so each
write fires the subscriptions on its topics as charting would. It runs in a thread of the sandbox process.

The stay keeps its own times (hours an hour apart, ending now): placing each hour at "now" as it is written would
squeeze the stay's hours into seconds, and moving the hours already written to keep them an hour apart would
rewrite the chart every second. A subscriber that scores as of the time of the newest data it holds (Stratify's
real-time door does) scores each replayed hour as that hour, its data minutes old.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from sandbox_ehr.auth.endpoints import fhir_base
from sandbox_ehr.fhir.bundles import bundle_process
from sandbox_ehr.fhir.loader import physionet
from sandbox_ehr.fhir.models import FhirResource
from sandbox_ehr.fhir.store import resource_mark_deleted

SECONDS_PER_HOUR = 1.0  # a 79-hour stay in about 80 s
_FILES = ("physionet2019_demo_setB.csv.gz", "physionet2019_training_setB.csv.gz", "physionet2019_training_setA.csv.gz")


@dataclass
class Replay:
    """Progress of one patient's replay: hours written of the stay's hours."""

    patient_id: str
    hours_total: int
    hours_done: int = 0
    error: str = ""

    @property
    def running(self) -> bool:
        """Whether hours remain to be written (and nothing failed)."""
        return not self.error and self.hours_done < self.hours_total


_replays: dict[str, Replay] = {}
_lock = threading.Lock()


def replay_status(patient_id: str) -> Replay | None:
    """This process's replay of the patient, if one was started."""
    return _replays.get(patient_id)


def stay_of(patient_id: str, data_dir: Path | None = None) -> physionet.Stay | None:
    """The PhysioNet stay behind a sandbox patient (`physionet-<id>`), from the first set file that has it."""
    prefix = physionet.patient_fhir_id("")
    if not patient_id.startswith(prefix):
        return None
    folder = (data_dir or Path(settings.SHARED_DATA)) / "physionet2019"
    for name in _FILES:
        if (folder / name).is_file():
            stay = physionet.stay_find(folder / name, patient_id.removeprefix(prefix))
            if stay is not None:
                return stay
    return None


def hours_of(stay: physionet.Stay) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """(Patient and Encounters, the Observations grouped by hour in time order) of the stay, ending now."""
    resources = physionet.stay_resources(stay, physionet.default_anchor())
    context = [r for r in resources if r["resourceType"] != "Observation"]
    by_time: dict[str, list[dict[str, Any]]] = {}
    for resource in (r for r in resources if r["resourceType"] == "Observation"):
        by_time.setdefault(resource["effectiveDateTime"], []).append(resource)
    return context, [by_time[when] for when in sorted(by_time)]


def _put_all(resources: list[dict[str, Any]]) -> None:
    entries = [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in resources
    ]
    bundle_process(
        bundle={"resourceType": "Bundle", "type": "transaction", "entry": entries},
        grant=None,
        base_url=fhir_base(),
        representation=False,
    )


def _observations_clear(patient_id: str) -> None:
    with transaction.atomic():
        rows = (
            FhirResource.objects.select_for_update().live().filter(resource_type="Observation", patient_id=patient_id)
        )
        for row in rows:
            resource_mark_deleted(row)


def replay_run(
    replay: Replay,
    context: list[dict[str, Any]],
    hours: list[list[dict[str, Any]]],
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Write the stay hour by hour (the thread's body; `sleep` between hours)."""
    try:
        _observations_clear(replay.patient_id)
        _put_all(context)
        for index, observations in enumerate(hours):
            if index:
                sleep(SECONDS_PER_HOUR)
            _put_all(observations)
            replay.hours_done = index + 1
    except Exception as exc:  # shown on the chart; the demo goes on
        replay.error = f"{type(exc).__name__}: {exc}"[:300]


def _in_thread(replay: Replay, context: list[dict[str, Any]], hours: list[list[dict[str, Any]]]) -> None:
    try:
        replay_run(replay, context, hours)
    finally:
        connection.close()  # the thread's own connection


def replay_start(patient_id: str) -> Replay | None:
    """Start replaying a septic PhysioNet patient's stay in a thread; None when it has no stay to replay."""
    with _lock:
        current = _replays.get(patient_id)
        if current is not None and current.running:
            return current
        stay = stay_of(patient_id)
        if stay is None or not stay.septic:
            return None
        context, hours = hours_of(stay)
        replay = _replays[patient_id] = Replay(patient_id, len(hours))
    threading.Thread(target=_in_thread, args=(replay, context, hours), name=f"replay-{patient_id}", daemon=True).start()
    return replay
