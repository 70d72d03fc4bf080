"""Readmission history features and the encounter the EHR names (hook context.encounterId)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from scoring.features.extract import extract_features
from scoring.features.readmission import extract_readmission, with_history
from scoring.features.spec import READMISSION_FEATURES, SEPSIS_FEATURES

ADMIT = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
DISCHARGE = ADMIT + timedelta(days=4)
PATIENT = {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1950-01-01"}


def _stay(i: str, start: datetime, end: datetime, klass: str = "IMP", status: str = "finished") -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": i,
        "status": status,
        "class": {"code": klass},
        "period": {"start": start.isoformat(), "end": end.isoformat()},
    }


def _features(resources: list[dict[str, Any]], encounter_id: str | None = None) -> dict[str, float]:
    ex = extract_readmission([PATIENT, *resources], DISCHARGE, encounter_id)
    return dict(zip(ex.names, ex.values, strict=True))


def _ago(days: float, length_days: float = 3) -> tuple[datetime, datetime]:
    end = ADMIT - timedelta(days=days)
    return end - timedelta(days=length_days), end


def test_stays_on_record_counts_ten_years_of_inpatient_stays_only() -> None:
    resources = [
        _stay("index", ADMIT, DISCHARGE),
        _stay("a", *_ago(100)),
        _stay("b", *_ago(3 * 365)),
        _stay("c", *_ago(9.9 * 365)),
        _stay("too-old", *_ago(10.1 * 365)),
        _stay("er", *_ago(50), klass="EMER"),
        _stay("cancelled", *_ago(60), status="cancelled"),
        _stay("error", *_ago(70), status="entered-in-error"),
    ]
    f = _features(resources)
    assert f["prior_inpatient_on_record"] == 3.0
    assert f["prior_inpatient_365d"] == 1.0
    assert f["readmission_within_30d"] == 0.0


def test_readmission_within_30_days_of_a_discharge() -> None:
    assert _features([_stay("index", ADMIT, DISCHARGE), _stay("a", *_ago(29))])["readmission_within_30d"] == 1.0
    assert _features([_stay("index", ADMIT, DISCHARGE), _stay("a", *_ago(31))])["readmission_within_30d"] == 0.0


def test_a_transfer_is_not_a_readmission() -> None:
    """A stay that ends exactly when this one begins is a transfer between units or hospitals."""
    f = _features([_stay("index", ADMIT, DISCHARGE), _stay("ward", *_ago(0))])
    assert f["readmission_within_30d"] == 0.0
    assert f["prior_inpatient_on_record"] == 0.0


def test_the_hospital_encounter_around_an_icu_stay_is_the_same_stay() -> None:
    """The sandbox (and many EHRs) nest the ICU Encounter in the hospital one with partOf; neither counts as
    an earlier stay of the other, nor does any stay still open when this one began."""
    hospital = _stay("hosp", ADMIT - timedelta(days=9), DISCHARGE)
    del hospital["period"]["end"]
    icu = {**_stay("icu", ADMIT, DISCHARGE), "partOf": {"reference": "Encounter/hosp"}}
    f = _features([hospital, icu], "icu")
    assert (f["prior_inpatient_on_record"], f["prior_inpatient_365d"], f["readmission_within_30d"]) == (0, 0, 0)
    closed_parent = _stay("hosp", ADMIT - timedelta(days=9), ADMIT - timedelta(days=1))
    assert _features([closed_parent, icu], "icu")["prior_inpatient_on_record"] == 0.0  # partOf: same stay
    absolute = {**icu, "partOf": {"reference": "https://ehr.example/fhir/Encounter/hosp/_history/2"}}
    assert _features([closed_parent, absolute], "icu")["prior_inpatient_on_record"] == 0.0
    assert _features([closed_parent, _stay("icu", ADMIT, DISCHARGE)], "icu")["readmission_within_30d"] == 1.0


def test_the_named_encounter_is_scored_not_the_latest() -> None:
    earlier_start = ADMIT - timedelta(days=20)
    resources = [_stay("named", earlier_start, earlier_start + timedelta(days=6)), _stay("later", ADMIT, DISCHARGE)]
    assert _features(resources)["length_of_stay_days"] == 4.0  # latest acute-care encounter
    named = _features(resources, "named")
    assert named["length_of_stay_days"] == 6.0
    assert named["prior_inpatient_on_record"] == 0.0  # "later" began after the named stay


def test_a_named_encounter_that_is_not_in_the_data_refuses() -> None:
    ex = extract_readmission([PATIENT, _stay("other", ADMIT, DISCHARGE)], DISCHARGE, "enc-404")
    assert ex.missing == ("Encounter/enc-404 named by the EHR (not in the data received)",)


def test_sepsis_reads_length_of_stay_from_the_named_encounter() -> None:
    earlier_start = ADMIT - timedelta(days=2)
    resources = [PATIENT, _stay("named", earlier_start, DISCHARGE, klass="ICU"), _stay("later", ADMIT, DISCHARGE)]
    col = [f.name for f in SEPSIS_FEATURES].index("icu_los_hours")
    at = ADMIT + timedelta(hours=10)
    assert extract_features(SEPSIS_FEATURES, resources, at).values[col] == 10.0
    assert extract_features(SEPSIS_FEATURES, resources, at, encounter_id="named").values[col] == 58.0
    missing = extract_features(SEPSIS_FEATURES, resources, at, encounter_id="gone").missing
    assert "Encounter/gone named by the EHR (not in the data received)" in missing


def test_table_history_uses_every_earlier_encounter_of_the_patient() -> None:
    frame = pd.DataFrame(
        {
            "encounter_id": [30, 10, 20, 40],
            "patient_nbr": [1, 1, 1, 2],
            "readmitted": ["NO", "<30", ">30", "<30"],
            "number_inpatient": [0, 0, 5, 0],
        }
    )
    out = with_history(frame)
    assert out["_stays_on_record"].tolist() == [2.0, 0.0, 5.0, 0.0]  # max(earlier encounters, number_inpatient)
    assert out["_prior_lt30"].tolist() == [0.0, 0.0, 1.0, 0.0]  # previous (by encounter_id) was "<30"
    assert [f.name for f in READMISSION_FEATURES][2:4] == ["prior_inpatient_365d", "prior_emergency_365d"]


def test_a_stay_whose_30_day_window_is_over_is_stale() -> None:
    resources = [PATIENT, _stay("old", ADMIT - timedelta(days=50), ADMIT - timedelta(days=45))]
    ex = extract_readmission(resources, DISCHARGE)
    assert ex.stale == ("Hospital encounter (ended 2026-01-24; its 30-day window is over)",)
    recent = [PATIENT, _stay("recent", ADMIT - timedelta(days=30), ADMIT - timedelta(days=26))]
    assert extract_readmission(recent, DISCHARGE).stale == ()  # ended 30 days before as-of: still in window


def test_a_stay_in_progress_is_scored_with_a_note_saying_what_it_assumes() -> None:
    in_progress = {**_stay("now", ADMIT, DISCHARGE), "status": "in-progress"}
    del in_progress["period"]["end"]
    assert extract_readmission([PATIENT, in_progress], DISCHARGE).notes[0].startswith("Stay still in progress")
    done = extract_readmission([PATIENT, _stay("done", ADMIT, DISCHARGE)], DISCHARGE).notes
    assert not any(note.startswith("Stay still in progress") for note in done)


def _condition(i: str, code: str = "428.0") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": i,
        "encounter": {"reference": "Encounter/index"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-9-cm", "code": code}]},
        "recordedDate": ADMIT.isoformat(),
    }


def test_no_conditions_or_medications_on_record_is_missing_not_zero() -> None:
    """Diabetes-130 has no stay without a diagnosis or a medication: nothing on record is unknown, not zero."""
    ex = extract_readmission([PATIENT, _stay("index", ADMIT, DISCHARGE)], DISCHARGE)
    f = dict(zip(ex.names, ex.values, strict=True))
    assert math.isnan(f["n_diagnoses"]) and math.isnan(f["med_any_diabetes"]) and math.isnan(f["n_medications"])
    assert all(math.isnan(v) for k, v in f.items() if k.startswith(("dx_", "med_")))
    assert f["n_procedures"] == 0.0  # zero procedures is a value Diabetes-130 has (num_procedures 0-6)
    assert "No diagnoses (Conditions) recorded for this stay: treated as not recorded, not as none." in ex.notes
    recorded = dict(
        zip(
            ex.names,
            extract_readmission([PATIENT, _stay("index", ADMIT, DISCHARGE), _condition("c1")], DISCHARGE).values,
            strict=True,
        )
    )
    assert recorded["n_diagnoses"] == 1.0 and recorded["dx_circulatory"] == 1.0


@pytest.mark.parametrize(
    ("klass", "words"), [("AMB", "ambulatory"), ("VR", "virtual"), ("HH", "home health"), ("EMER", "emergency")]
)
def test_only_inpatient_stays_are_applicable(klass: str, words: str) -> None:
    visit = _stay("visit", ADMIT, ADMIT + timedelta(minutes=30), klass=klass)
    assert extract_readmission([PATIENT, visit], DISCHARGE, "visit").not_applicable == (
        f"not applicable: {words} encounter"
    )
    for inpatient in ("IMP", "ACUTE", "NONAC"):
        stay = _stay("stay", ADMIT, DISCHARGE, klass=inpatient)
        assert extract_readmission([PATIENT, stay], DISCHARGE, "stay").not_applicable == ""
