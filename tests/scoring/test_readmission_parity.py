"""Golden parity for readmission: Diabetes-130 encounters written as FHIR give the training-path vector."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from scoring.features.readmission import (
    DISCHARGE_TO_FHIR,
    extract_readmission,
    readmission_table_features,
    with_history,
)
from scoring.features.spec import MEDICATION_GROUPS, READMISSION_FEATURES

ADMIT = datetime(2008, 6, 2, 8, 0, tzinfo=UTC)
LAB = {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}
# Test-only stand-ins inside each Diabetes-130 category (A1C ">8" -> 8.5 %, ">7" -> 7.5 %, "Norm" -> 6 %).
A1C_VALUE = {">8": 8.5, ">7": 7.5, "Norm": 6.0}
GLU_VALUE = {">300": 350.0, ">200": 250.0, "Norm": 120.0}
DRUG_COLUMNS = sorted({n for names in MEDICATION_GROUPS.values() for n in names})


def _enc(i: str, klass: str, start: datetime, end: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": i,
        "status": "finished",
        "class": {"code": klass},
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        **extra,
    }


def _lab(i: str, code: str, value: float, t: datetime) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": i,
        "status": "final",
        "category": [{"coding": [LAB]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "effectiveDateTime": t.isoformat(),
        "encounter": {"reference": "Encounter/index"},
        "valueQuantity": {"value": value},
    }


def row_to_fhir(row: pd.Series) -> tuple[list[dict[str, Any]], datetime]:
    age_lo = int(str(row["age"])[1:].split("-")[0])
    end = ADMIT + timedelta(days=int(row["time_in_hospital"]))
    in_stay = ADMIT + timedelta(hours=2)
    hosp: dict[str, Any] = {}
    if row["admission_source_id"] == 7:
        hosp["admitSource"] = {"coding": [{"code": "emd"}]}
    if (code := DISCHARGE_TO_FHIR.get(int(row["discharge_disposition_id"]))) is not None:
        hosp["dischargeDisposition"] = {"coding": [{"code": code}]}
    extra: dict[str, Any] = {"hospitalization": hosp}
    if row["admission_type_id"] == 1:
        extra["priority"] = {"coding": [{"code": "EM"}]}
    res: list[dict[str, Any]] = [
        {
            "resourceType": "Patient",
            "id": "p",
            "gender": {"Male": "male", "Female": "female"}.get(row["gender"]),
            "birthDate": (ADMIT - timedelta(days=365.25 * (age_lo + 5))).date().isoformat(),
        },
        {**_enc("index", "IMP", ADMIT, end), **extra},
    ]
    for kind, klass in (("number_inpatient", "IMP"), ("number_emergency", "EMER"), ("number_outpatient", "AMB")):
        for k in range(int(row[kind])):  # prior-year visits, more than 30 days before this admission ...
            start = ADMIT - timedelta(days=40 + 3 * k)
            res.append(_enc(f"{klass}{k}", klass, start, start + timedelta(hours=5)))
    if row["_prior_lt30"] == 1:  # ... except the previous stay, which ended 10 days before it
        next(r for r in res if r["id"] == "IMP0")["period"] = {
            "start": (ADMIT - timedelta(days=14)).isoformat(),
            "end": (ADMIT - timedelta(days=10)).isoformat(),
        }
    for k in range(int(row["_stays_on_record"] - row["number_inpatient"])):  # older stays on record (1-10 y)
        start = ADMIT - timedelta(days=400 + 30 * k)
        res.append(_enc(f"old{k}", "IMP", start, start + timedelta(days=3)))
    labs = int(row["num_lab_procedures"])
    if row["A1Cresult"] != "None":
        res.append(_lab("a1c", "4548-4", A1C_VALUE[row["A1Cresult"]], in_stay))
        labs -= 1
    if row["max_glu_serum"] != "None":
        res.append(_lab("glu", "2345-7", GLU_VALUE[row["max_glu_serum"]], in_stay))
        labs -= 1
    res += [_lab(f"lab{k}", "2951-2", 140.0, in_stay) for k in range(max(labs, 0))]
    res += [
        {
            "resourceType": "Procedure",
            "id": f"pr{k}",
            "encounter": {"reference": "Encounter/index"},
            "performedDateTime": in_stay.isoformat(),
        }
        for k in range(int(row["num_procedures"]))
    ]
    drugs = [d for d in DRUG_COLUMNS if row.get(d, "No") != "No"]
    names = drugs + [f"other medication {k}" for k in range(int(row["num_medications"]) - len(drugs))]
    res += [
        {
            "resourceType": "MedicationRequest",
            "id": f"m{k}",
            "encounter": {"reference": "Encounter/index"},
            "authoredOn": in_stay.isoformat(),
            "medicationCodeableConcept": {"text": name},
        }
        for k, name in enumerate(names)
    ]
    codes = [str(row[c]) for c in ("diag_1", "diag_2", "diag_3") if isinstance(row[c], str)]
    codes += ["V45.81"] * (int(row["number_diagnoses"]) - len(codes))
    res += [
        {
            "resourceType": "Condition",
            "id": f"c{k}",
            "encounter": {"reference": "Encounter/index"},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-9-cm", "code": code}]},
        }
        for k, code in enumerate(codes)
    ]
    return res, end


@pytest.fixture(scope="module")
def encounters() -> pd.DataFrame:
    from django.conf import settings  # noqa: F401 - settings configured by pytest-django

    from scoring.training.data import diabetes_load

    frame, _ = diabetes_load()
    frame = with_history(frame)  # history needs all of a patient's encounters
    frame["_table_row"] = np.arange(len(frame))
    usable = frame[(frame["diabetesMed"] == "No") | frame[DRUG_COLUMNS].ne("No").any(axis=1)]
    # A 30-day readmission is written as FHIR with its previous stay among the prior year's inpatient stays.
    recent = (
        (usable["_prior_lt30"] == 1)
        & (usable["number_inpatient"] >= 1)
        & (usable["_stays_on_record"] > usable["number_inpatient"])
    )
    picks = [
        usable[usable["A1Cresult"] == ">8"].iloc[0],
        usable[usable["max_glu_serum"] == ">300"].iloc[0],
        usable[usable["number_inpatient"] >= 3].iloc[0],
        usable[usable["admission_source_id"] == 7].iloc[3],
        usable.iloc[100],
        usable[recent].iloc[0],
        usable[(usable["_stays_on_record"] > usable["number_inpatient"] + 1) & ~recent].iloc[0],
    ]
    return pd.DataFrame(picks).reset_index(drop=True)


@pytest.fixture(scope="module")
def table(encounters: pd.DataFrame) -> np.ndarray:
    from scoring.training.data import diabetes_load

    frame, _ = diabetes_load()
    return readmission_table_features(frame)[encounters["_table_row"].to_numpy()]


def test_fhir_vector_equals_table_vector(encounters: pd.DataFrame, table: np.ndarray) -> None:
    names = [f.name for f in READMISSION_FEATURES]
    for i, row in encounters.iterrows():
        resources, discharge = row_to_fhir(row)
        fhir = np.array(extract_readmission(resources, discharge).values)
        diff = [
            (names[j], fhir[j], table[i, j])
            for j in range(len(names))
            if not (math.isclose(fhir[j], table[i, j]) or (np.isnan(fhir[j]) and np.isnan(table[i, j])))
        ]
        assert diff == [], f"encounter {row['encounter_id']}: {diff}"


def test_refuses_without_an_encounter() -> None:
    ex = extract_readmission([{"resourceType": "Patient", "id": "p", "gender": "female"}], ADMIT)
    assert ex.missing == ("Current hospital encounter",)
