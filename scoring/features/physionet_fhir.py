"""Turn PhysioNet 2019 hourly rows into FHIR R4 JSON (Patient, Encounter, Observations), for tests and benchmarks.

Conventions (the same as the training path): row h is at `start + h` hours, `start` being the time of the
first row; the Encounter starts ICULOS_0 hours before it,
so `(as_of - encounter start)` in hours equals ICULOS at every row; birthDate is `admission - Age years`. A finished
stay's Encounter ends at its last row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from scoring.features.spec import PHYSIONET_OBSERVATIONS

CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def row_time(start: datetime, hour: int) -> datetime:
    """Time of row `hour` of a stay whose first row is at `start`."""
    return start + timedelta(hours=hour)


def stay_to_fhir(
    patient_id: str, rows: Sequence[Mapping[str, Any]], start: datetime, *, finished: bool = False
) -> list[dict[str, Any]]:
    """FHIR JSON for one stay's rows (dicts with PhysioNet column keys; NaN or None = not measured); `finished`: the
    Encounter ended at the last row (else it is in progress)."""
    first = rows[0]
    admitted = start - timedelta(hours=float(first["ICULOS"]))
    born = admitted - timedelta(days=float(first["Age"]) * 365.25)
    resources: list[dict[str, Any]] = [
        {
            "resourceType": "Patient",
            "id": patient_id,
            "birthDate": born.date().isoformat(),
            "gender": "male" if int(first["Gender"]) == 1 else "female",
        },
        {
            "resourceType": "Encounter",
            "id": f"{patient_id}-icu",
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": {"reference": f"Patient/{patient_id}"},
            "period": {"start": _iso(admitted)},
        },
    ]
    if finished:
        resources[1]["status"] = "finished"
        resources[1]["period"]["end"] = _iso(row_time(start, int(rows[-1]["hour"])))
    for row in rows:
        when = _iso(row_time(start, int(row["hour"])))
        for o in PHYSIONET_OBSERVATIONS:
            value = row.get(o.column)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            resources.append(
                {
                    "resourceType": "Observation",
                    "id": f"{patient_id}-{row['hour']}-{o.column}",
                    "status": "final",
                    "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": o.category}]}],
                    "code": {"coding": [{"system": "http://loinc.org", "code": o.loinc, "display": o.display}]},
                    "subject": {"reference": f"Patient/{patient_id}"},
                    "effectiveDateTime": when,
                    "valueQuantity": {
                        "value": float(value),
                        "unit": o.unit,
                        "system": "http://unitsofmeasure.org",
                        "code": o.unit,
                    },
                }
            )
    return resources
