"""PhysioNet 2019 stays written as a FHIR site folder (`site_fhir`'s layout), for tests and benchmarks: the same
stays in both layouts, so the two readings can be compared.

Each stay becomes its Patient, a finished Encounter and its Observations (`scoring.features.physionet_fhir`, as the
sandbox loader writes them); a septic stay's onset, 6 h after its first labelled row (labels start 6 h before onset,
Reyna et al. 2020), becomes a sepsis Condition (Condition.ndjson) or a row of outcomes.csv (label 1 at the onset;
a stay without one gets a label 0 row at its end).
"""

from __future__ import annotations

import csv
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, Literal

import orjson
import pandas as pd

from config.fhir_json import fhir_instant
from scoring.catalogue.sepsis import SEPSIS
from scoring.features.physionet_fhir import row_time, stay_to_fhir
from scoring.training.sepsis import HORIZON_HOURS
from scoring.training.site_fhir import TYPES
from scoring.training.site_fhir_outcomes import OUTCOMES_FILE

VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


def physionet_site_write(
    frame: pd.DataFrame, folder: Path, start: datetime, outcomes: Literal["conditions", "file"] = "conditions"
) -> None:
    """Write the stays of `frame` (PhysioNet layout, sorted by stay and hour; each stay's first row at `start`) into
    `folder` as Patient/Encounter/Observation NDJSON plus Condition.ndjson or outcomes.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    kinds = (*TYPES, "Condition") if outcomes == "conditions" else TYPES
    with ExitStack() as files:
        out: dict[str, IO[bytes]] = {
            kind: files.enter_context((folder / f"{kind}.ndjson").open("wb")) for kind in kinds
        }
        table = (
            csv.writer(files.enter_context((folder / OUTCOMES_FILE).open("w", newline="")))
            if outcomes == "file"
            else None
        )
        if table is not None:
            table.writerow(["patient", "model", "label", "time"])
        for pid, stay in frame.groupby("patient_id", sort=True):
            rows = stay.to_dict("records")
            for resource in stay_to_fhir(str(pid), rows, start, finished=True):
                out[resource["resourceType"]].write(orjson.dumps(resource) + b"\n")
            _outcome(out, table, str(pid), rows, start)


def onset_time(rows: list[dict[str, Any]], start: datetime) -> datetime | None:
    """The onset the stay's labels imply: 6 h after its first labelled row (None for a stay without one)."""
    first = next((row for row in rows if row["SepsisLabel"] == 1), None)
    return None if first is None else row_time(start, int(first["hour"])) + timedelta(hours=HORIZON_HOURS)


def _outcome(out: dict[str, IO[bytes]], table: Any, pid: str, rows: list[dict[str, Any]], start: datetime) -> None:
    onset = onset_time(rows, start)
    if table is not None:
        at = onset or row_time(start, int(rows[-1]["hour"]))
        table.writerow([f"Patient/{pid}", SEPSIS.name, int(onset is not None), fhir_instant(at)])
    elif onset is not None:
        out["Condition"].write(orjson.dumps(sepsis_condition(pid, onset)) + b"\n")


def sepsis_condition(pid: str, onset: datetime) -> dict[str, Any]:
    """A confirmed sepsis Condition of `pid` (the catalogue's outcome coding) with its onset."""
    return {
        "resourceType": "Condition",
        "id": f"{pid}-sepsis",
        "verificationStatus": {"coding": [{"system": VERIFICATION, "code": "confirmed"}]},
        "code": SEPSIS.outcome.concept(),
        "subject": {"reference": f"Patient/{pid}"},
        "encounter": {"reference": f"Encounter/{pid}-icu"},
        "onsetDateTime": fhir_instant(onset),
    }
