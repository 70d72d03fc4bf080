"""PhysioNet 2019 ICU stays -> FHIR R4 (Patient, Encounters, one Observation per measured value).

Data: PhysioNet/CinC Challenge 2019 (Reyna et al., Crit Care Med 2020;48:210; doi:10.13026/v64v-d857),
`shared/data/physionet2019/`. Codes, UCUM units and categories come from the scoring feature spec
(`scoring.features.spec.PHYSIONET_OBSERVATIONS`), the one definition shared with serving.

Time shift: every selected stay ends at the same anchor, the load time floored to the hour (UTC).
A row with ICU length of stay ICULOS=k is placed at `icu_admission + k h`, with
`icu_admission = anchor - max(ICULOS) h`; the ICU Encounter starts at `icu_admission` (the
convention of `scoring/features/physionet_fhir.py`: hours since Encounter start = ICULOS);
the hospital Encounter starts `HospAdmTime` hours from it; birthDate = icu_admission - Age x 365.25 d.
Ids are stable (`physionet-<patient>`), so a re-run skips stays already loaded and changes nothing.

A septic stay also gets the diagnosis as the EHR would chart it: a Condition coded SNOMED CT 91302008
|Sepsis (disorder)| with its onset. The data set labels hours from 6 h before onset (SepsisLabel = 1 from
t_sepsis - 6; Reyna et al.), so the onset is the first labelled hour + 6 h; the few stays that end before it
(0.1 % of set A's septic stays) get no Condition rather than an invented time.
"""

import csv
import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scoring.features.spec import PHYSIONET_OBSERVATIONS

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
IDENTIFIER_SYSTEM = "https://physionet.org/content/challenge-2019/1.0.0/"
SOURCE_TAG = {"system": "urn:stratify:sandbox-source", "code": "physionet2019"}
# The data set's outcome label on the Patient, so the EHR simulator can show a new user whom to open.
LABEL_SYSTEM = "urn:stratify:sandbox-label"
SEPTIC_TAG = {"system": LABEL_SYSTEM, "code": "sepsis", "display": "PhysioNet 2019 SepsisLabel: septic stay"}
NOT_SEPTIC_TAG = {"system": LABEL_SYSTEM, "code": "no-sepsis", "display": "PhysioNet 2019 SepsisLabel: no sepsis"}
_CATEGORY_DISPLAY = {"vital-signs": "Vital Signs", "laboratory": "Laboratory"}
SNOMED = "http://snomed.info/sct"
SEPSIS_CODE = {"system": SNOMED, "code": "91302008", "display": "Sepsis (disorder)"}
LABEL_LEAD_HOURS = 6  # PhysioNet 2019: SepsisLabel is 1 from 6 h before onset
CLINICAL_STATUS = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION_STATUS = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"


@dataclass(frozen=True)
class Stay:
    """One ICU stay: the PhysioNet patient id, whether it is septic, and its hourly rows."""

    patient: str
    septic: bool
    rows: list[dict[str, str]]


def _stays(path: Path) -> Iterator[Stay]:
    """Stays of a set file in file order (the rows of one patient are contiguous, ordered by hour)."""
    with gzip.open(path, "rt", newline="") as handle:
        current: list[dict[str, str]] = []
        for row in csv.DictReader(handle):
            if current and row["patient_id"] != current[0]["patient_id"]:
                yield Stay(current[0]["patient_id"], any(r["SepsisLabel"] == "1" for r in current), current)
                current = []
            current.append(row)
        if current:
            yield Stay(current[0]["patient_id"], any(r["SepsisLabel"] == "1" for r in current), current)


def stays_select(path: Path, count: int) -> list[Stay]:
    """A deterministic mix: the first count//2 septic and the first remaining non-septic stays by id."""
    want = {True: count // 2, False: count - count // 2}
    picked: list[Stay] = []
    for stay in _stays(path):
        if want[stay.septic] > 0:
            picked.append(stay)
            want[stay.septic] -= 1
        if not any(want.values()):
            break
    return sorted(picked, key=lambda s: s.patient)


def stay_find(path: Path, patient: str) -> Stay | None:
    """One stay of a set file by its PhysioNet patient id (read in file order until found)."""
    return next((stay for stay in _stays(path) if stay.patient == patient), None)


def patient_fhir_id(patient: str) -> str:
    """Stable FHIR id of a PhysioNet patient."""
    return f"physionet-{patient}"


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _first(rows: list[dict[str, str]], column: str) -> str:
    return next((r[column] for r in rows if r[column] != ""), "")


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def _patient(stay: Stay, pid: str, icu_admit: datetime) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": pid,
        "meta": {"tag": [SOURCE_TAG, SEPTIC_TAG if stay.septic else NOT_SEPTIC_TAG]},
        "identifier": [{"system": IDENTIFIER_SYSTEM, "value": stay.patient}],
        "name": [
            {"use": "anonymous", "text": f"PhysioNet {stay.patient}", "family": "PhysioNet", "given": [stay.patient]}
        ],
    }
    gender = _first(stay.rows, "Gender")
    if gender:
        resource["gender"] = "male" if gender == "1" else "female"  # PhysioNet: 0 female, 1 male
    age = _first(stay.rows, "Age")
    if age:
        resource["birthDate"] = (icu_admit - timedelta(days=float(age) * 365.25)).date().isoformat()
    return resource


def _unit_display(rows: list[dict[str, str]]) -> str:
    if _first(rows, "Unit1") == "1":
        return "Medical ICU (MICU)"
    if _first(rows, "Unit2") == "1":
        return "Surgical ICU (SICU)"
    return "Intensive care unit"


def _encounters(stay: Stay, pid: str, icu_admit: datetime) -> list[dict[str, Any]]:
    subject = {"reference": f"Patient/{pid}"}
    icu: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": f"{pid}-icu",
        "meta": {"tag": [SOURCE_TAG]},
        "status": "in-progress",
        "class": {"system": ACT_CODE, "code": "IMP", "display": "inpatient encounter"},
        "subject": subject,
        "period": {"start": _iso(icu_admit)},
        "location": [
            {
                "location": {"display": _unit_display(stay.rows)},
                "status": "active",
                "period": {"start": _iso(icu_admit)},
            }
        ],
    }
    hosp_adm = _first(stay.rows, "HospAdmTime")
    # HospAdmTime = hours from hospital to ICU admission (negative: admitted earlier). A positive value
    # (a known quirk of the data set) cannot start a stay that contains the ICU one, so it is not used.
    if hosp_adm == "" or float(hosp_adm) > 0:
        return [icu]
    hospital = {
        "resourceType": "Encounter",
        "id": f"{pid}-hosp",
        "meta": {"tag": [SOURCE_TAG]},
        "status": "in-progress",
        "class": {"system": ACT_CODE, "code": "IMP", "display": "inpatient encounter"},
        "subject": subject,
        "period": {"start": _iso(icu_admit + timedelta(hours=float(hosp_adm)))},
    }
    icu["partOf"] = {"reference": f"Encounter/{pid}-hosp"}
    return [hospital, icu]


def _observations(stay: Stay, pid: str, icu_admit: datetime) -> Iterator[dict[str, Any]]:
    for row in stay.rows:
        when = _iso(icu_admit + timedelta(hours=float(row["ICULOS"])))
        for code in PHYSIONET_OBSERVATIONS:
            text = row.get(code.column, "")
            if text == "":
                continue
            yield {
                "resourceType": "Observation",
                "id": f"{pid}-h{row['hour']}-{code.column.lower().replace('_', '-')}",
                "meta": {"tag": [SOURCE_TAG]},
                "status": "final",
                "category": [
                    {
                        "coding": [
                            {
                                "system": CATEGORY_SYSTEM,
                                "code": code.category,
                                "display": _CATEGORY_DISPLAY[code.category],
                            }
                        ]
                    }
                ],
                "code": {
                    "coding": [{"system": LOINC, "code": code.loinc, "display": code.display}],
                    "text": code.display,
                },
                "subject": {"reference": f"Patient/{pid}"},
                "encounter": {"reference": f"Encounter/{pid}-icu"},
                "effectiveDateTime": when,
                "valueQuantity": {"value": _number(text), "unit": code.unit, "system": UCUM, "code": code.unit},
            }


def _sepsis(stay: Stay, pid: str, icu_admit: datetime, last: float) -> list[dict[str, Any]]:
    """The sepsis Condition of a septic stay at its onset (none when the stay ends before it)."""
    labelled = [float(r["ICULOS"]) for r in stay.rows if r["SepsisLabel"] == "1"]
    if not labelled or min(labelled) + LABEL_LEAD_HOURS > last:
        return []
    onset = _iso(icu_admit + timedelta(hours=min(labelled) + LABEL_LEAD_HOURS))
    return [
        {
            "resourceType": "Condition",
            "id": f"{pid}-sepsis",
            "meta": {"tag": [SOURCE_TAG]},
            "clinicalStatus": {"coding": [{"system": CLINICAL_STATUS, "code": "active"}]},
            "verificationStatus": {"coding": [{"system": VERIFICATION_STATUS, "code": "confirmed"}]},
            "category": [{"coding": [{"system": CONDITION_CATEGORY, "code": "encounter-diagnosis"}]}],
            "code": {"coding": [SEPSIS_CODE], "text": "Sepsis"},
            "subject": {"reference": f"Patient/{pid}"},
            "encounter": {"reference": f"Encounter/{pid}-icu"},
            "onsetDateTime": onset,
            "recordedDate": onset,
        }
    ]


def stay_resources(stay: Stay, anchor: datetime) -> list[dict[str, Any]]:
    """Patient, Encounter(s), Observations and (septic stays) the sepsis Condition of one stay, shifted so its
    last row is at `anchor`."""
    last = max(float(r["ICULOS"]) for r in stay.rows)
    icu_admit = anchor - timedelta(hours=last)
    pid = patient_fhir_id(stay.patient)
    return [
        _patient(stay, pid, icu_admit),
        *_encounters(stay, pid, icu_admit),
        *_observations(stay, pid, icu_admit),
        *_sepsis(stay, pid, icu_admit, last),
    ]


def default_anchor() -> datetime:
    """Now, floored to the hour (UTC): where every loaded stay ends."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
