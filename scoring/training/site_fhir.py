"""A site's labelled ICU stays as a FHIR Bulk Data export leaves them: a folder of NDJSON files, one per resource
type (`<Type>.ndjson`, one resource a line), plus the outcomes.

- **Files**: Patient.ndjson, Encounter.ndjson, Observation.ndjson, and the outcomes: outcomes.csv (the labelled file
  `manage.py import_outcomes` reads, `scoring.monitoring.outcomes.outcomes_parse`; its rows of model sepsis, label 1
  an onset at `time`), else Condition.ndjson (its sepsis Conditions, as the performance monitor reads them:
  `scoring.monitoring.outcomes_fhir.condition_outcomes`). With both, outcomes.csv gives the labels. Other files in
  the folder are not read.
- **Stays**: a stay is an Encounter, identified by its id; its patient is its subject. An Encounter that is void or
  not of an acute-care class (`scoring.features.extract.acute_care`, as the serving doors choose the Encounter they
  score) is not a stay. A stay without period.end (in progress: its outcome is not known yet) or shorter than an
  hour (no row) is set aside, and counted on the card. Onsets join stays as `site_fhir_outcomes` says; each stay's
  hourly rows and labels: `site_fhir_rows`.
- **Refused**, naming the file and line: a missing file, a line that is not a JSON resource of the file's type, an
  Observation without an effective time with a zone, a Patient or Encounter without an id or given twice, an
  Encounter without a start or a patient of the export, an outcome of a patient not in the export or that joins
  none of their stays; and a site without a finished stay.

Memory: the Observations are held as the lines read (about the file's size) and parsed one patient at a time.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from config.errors import ValidationFailed
from config.fhir_json import by_patient, patient_of
from scoring.artifact import sha256_file
from scoring.features.extract import VOID_ENCOUNTER, acute_care
from scoring.features.select import effective_time, parse_datetime
from scoring.training.ndjson import ndjson_lines
from scoring.training.site_fhir_outcomes import OutcomeSource, Window, onsets_join
from scoring.training.site_fhir_rows import FhirStay, fhir_stays
from scoring.training.site_physionet import folder_digest, newest
from scoring.training.stays import Site

TYPES = ("Patient", "Encounter", "Observation")
LAYOUT = "FHIR Bulk Data export (NDJSON)"
STAY = "an acute-care Encounter (its id), rows at each whole hour from period.start to period.end"
HOUR = timedelta(hours=1)
Resource = dict[str, Any]


def is_fhir_site(path: Path) -> bool:
    """A folder holding NDJSON files."""
    return path.is_dir() and any(path.glob("*.ndjson"))


def fhir_site_read(folder: Path) -> Site:
    """The site's stays with their rows and labels, and the card's account of what was read."""
    paths = [_required(folder / f"{kind}.ndjson") for kind in TYPES]
    source = OutcomeSource.of(folder)
    patients = _patients(paths[0])
    encounters, windows, not_stays = _encounters(paths[1], patients)
    stays = _finished(windows, onsets_join(windows, source.onsets(list(patients))), paths[1])
    lines = _observations(paths[2], {s.patient for s in stays})
    per_patient = by_patient_stays(stays)
    rows = fhir_stays(  # one patient's resources parsed at a time
        (_resources(patients[p], encounters.get(p, []), lines.get(p, [])), per_patient[p]) for p in per_patient
    )
    read = sorted([*paths, source.path], key=lambda f: f.name)
    shas = tuple(sha256_file(f) for f in read)
    facts = {
        "sha256": folder_digest([f.name for f in read], shas),
        "exported_at": newest(read),
        "layout": LAYOUT,
        "dates": f"stays from {min(s.start for s in stays).isoformat()} to {max(s.end for s in stays).isoformat()} "
        "(Encounter.period); exported_at is the newest file's modification time",
        "labels": source.labels,
        "stay": STAY,
        "set_aside": _set_aside(windows, stays, not_stays),
    }
    return Site(rows, tuple(f.name for f in read), shas, facts)


def _finished(windows: Sequence[Window], first_onset: dict[str, datetime], where: Path) -> list[FhirStay]:
    """The stays that ended and last an hour or more, with their first onsets; none is refused."""
    stays = [
        FhirStay(w.key, w.patient, w.start, w.end, first_onset.get(w.key))
        for w in windows
        if w.end is not None and w.end - w.start >= HOUR
    ]
    if not stays:
        raise ValidationFailed(f"{where}: no finished stay of an hour or more ({STAY}): nothing to adapt on.")
    return stays


def _required(path: Path) -> Path:
    if not path.is_file():
        raise ValidationFailed(
            f"{path.parent} lacks {path.name}: a FHIR site needs {', '.join(f'{t}.ndjson' for t in TYPES)} and its "
            "outcomes (outcomes.csv or Condition.ndjson)."
        )
    return path


def _patients(path: Path) -> dict[str, Resource]:
    """Patient id -> Patient."""
    patients: dict[str, Resource] = {}
    for where, patient, _line in ndjson_lines(path, "Patient"):
        key = _id(where, patient, patients)
        patients[key] = patient
    return patients


def _id(where: str, resource: Resource, seen: Container[str]) -> str:
    key = resource.get("id")
    if not isinstance(key, str) or not key:
        raise ValidationFailed(f"{where}: a {resource['resourceType']} without an id.")
    if key in seen:
        raise ValidationFailed(f"{where}: {resource['resourceType']}/{key} is given twice.")
    return key


def _encounters(path: Path, patients: dict[str, Resource]) -> tuple[dict[str, list[Resource]], list[Window], int]:
    """Each patient's Encounters (what the extractor is given), the stays among them, and how many are not stays."""
    resources: list[Resource] = []
    windows: dict[str, Window] = {}
    not_stays = 0
    for where, encounter, _line in ndjson_lines(path, "Encounter"):
        if encounter.get("status") in VOID_ENCOUNTER or not acute_care(encounter):
            not_stays += 1
            continue
        window = _window(where, encounter, patients, windows)
        windows[window.key] = window
        resources.append(encounter)
    return by_patient(resources), list(windows.values()), not_stays


def _window(where: str, encounter: Resource, patients: dict[str, Resource], seen: dict[str, Window]) -> Window:
    key = _id(where, encounter, seen)
    patient = patient_of(encounter)
    if patient not in patients:
        raise ValidationFailed(
            f"{where}: Encounter/{key}'s subject ({patient and 'Patient/' + patient or 'none'}) is not a patient "
            "of Patient.ndjson."
        )
    period = encounter.get("period")
    if not isinstance(period, dict):
        period = {}
    start, end = parse_datetime(period.get("start")), parse_datetime(period.get("end"))
    if start is None:
        raise ValidationFailed(
            f"{where}: Encounter/{key} has no period.start with a time zone: the stay's hours start there."
        )
    if period.get("end") is not None and (end is None or end < start):
        raise ValidationFailed(f"{where}: Encounter/{key}'s period.end is not a time with a zone after its start.")
    return Window(key, patient, start, end)


def _observations(path: Path, wanted: set[str]) -> dict[str, list[bytes]]:
    """The lines of the Observations of `wanted` patients, per patient; every Observation must have a time."""
    lines: dict[str, list[bytes]] = {}
    for where, observation, line in ndjson_lines(path, "Observation"):
        if parse_datetime(effective_time(observation)) is None:
            raise ValidationFailed(
                f"{where}: Observation/{observation.get('id')} has no effective time with a time zone "
                "(effectiveDateTime, effectiveInstant or effectivePeriod.start): the model cannot place it in time."
            )
        patient = patient_of(observation)
        if patient in wanted:
            lines.setdefault(patient, []).append(line)
    return lines


def _resources(patient: Resource, encounters: list[Resource], lines: list[bytes]) -> list[Resource]:
    """One patient's resources as a door hands them to scoring: the Patient, their Encounters, their Observations."""
    return [patient, *encounters, *(orjson.loads(line) for line in lines)]


def by_patient_stays(stays: Sequence[FhirStay]) -> dict[str, list[FhirStay]]:
    """The stays per patient (patients sorted by id, each one's stays by start)."""
    grouped: dict[str, list[FhirStay]] = {}
    for stay in sorted(stays, key=lambda s: (s.patient, s.start, s.key)):
        grouped.setdefault(stay.patient, []).append(stay)
    return grouped


def _set_aside(windows: Sequence[Window], stays: Sequence[FhirStay], not_stays: int) -> dict[str, int]:
    unfinished = sum(w.end is None for w in windows)
    return {
        "encounters not acute care, or void": not_stays,
        "stays in progress (no period.end)": unfinished,
        "stays shorter than an hour": len(windows) - unfinished - len(stays),
    }
