"""`bundle_time_shift`: Synthea records moved so that they end an hour before the load anchor, nothing else changed."""

import copy
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from sandbox_ehr.fhir.loader.synthea import (
    BILLING_TYPES,
    bundle_time_shift,
    bundles_read,
    latest_clinical_datetime,
)

ANCHOR = datetime(2025, 1, 15, 12, tzinfo=UTC)
TARGET = ANCHOR - timedelta(hours=1)
SYNTHEA = Path(settings.SHARED_DATA) / "synthea" / "synthea_r4_inpatient_bundles.tar.gz"
UNTOUCHED = [
    "2019-03-04T10:00",
    "2019-03-04T10:00:00",
    "2019",
    "2019-03",
    "seen on 2019-03-04",
    "abc",
    "2019-03-04T10:00:00+00:00 and more",
    "1.2.840.10008",
]


def _bundle(*, deceased: str | None = None) -> dict[str, Any]:
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": "p1",
        "birthDate": "1980-05-17",
        "address": [{"postalCode": "2019"}],
        "identifier": [{"value": value} for value in UNTOUCHED],
    }
    if deceased:
        patient["deceasedDateTime"] = deceased
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": patient},
            {
                "resource": {
                    "resourceType": "Encounter",
                    "id": "e1",
                    "status": "finished",
                    "period": {"start": "2019-03-04T10:00:00+00:00", "end": "2019-03-05T12:30:00Z"},
                }
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "id": "o1",
                    "effectiveDateTime": "2019-03-04T06:15:00-05:00",
                    "issued": "2019-03-04T11:20:00.123+00:00",
                    "valueQuantity": {"value": 37},
                }
            },
            {
                "resource": {
                    "resourceType": "ExplanationOfBenefit",
                    "id": "x1",  # a year past the care (Synthea)
                    "billablePeriod": {"start": "2019-03-04T10:00:00+00:00", "end": "2020-03-04T10:00:00+00:00"},
                }
            },
        ],
    }


def _resource(bundle: dict[str, Any], rid: str) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == rid)


def _moments(bundle: dict[str, Any]) -> list[datetime]:
    encounter, obs, eob = (_resource(bundle, rid) for rid in ("e1", "o1", "x1"))
    texts = [*encounter["period"].values(), obs["effectiveDateTime"], obs["issued"], *eob["billablePeriod"].values()]
    return [datetime.fromisoformat(text) for text in texts]


def test_latest_clinical_date_lands_an_hour_before_the_anchor_with_spacing_kept() -> None:
    original = _bundle()
    shifted = bundle_time_shift(original, ANCHOR)
    assert _resource(shifted, "e1")["period"]["end"] == "2025-01-15T11:00:00Z"  # zone kept as written
    delta = TARGET - datetime(2019, 3, 5, 12, 30, tzinfo=UTC)
    assert [m - delta for m in _moments(shifted)] == _moments(original)  # one delta for all, billing included
    obs = _resource(shifted, "o1")
    assert obs["effectiveDateTime"].endswith("-05:00") and obs["issued"].endswith(".123+00:00")
    assert obs["valueQuantity"] == {"value": 37}


def test_billing_periods_move_but_do_not_decide_the_end() -> None:
    assert latest_clinical_datetime(_bundle()) == datetime(2019, 3, 5, 12, 30, tzinfo=UTC)
    eob = _resource(bundle_time_shift(_bundle(), ANCHOR), "x1")
    assert datetime.fromisoformat(eob["billablePeriod"]["end"]) > ANCHOR and "ExplanationOfBenefit" in BILLING_TYPES


def test_birth_date_moves_by_the_same_delta_in_days() -> None:
    shifted = bundle_time_shift(_bundle(), ANCHOR)
    days = round((TARGET - datetime(2019, 3, 5, 12, 30, tzinfo=UTC)) / timedelta(days=1))
    born = date.fromisoformat(_resource(shifted, "p1")["birthDate"])
    assert born == date(1980, 5, 17) + timedelta(days=days)
    encounter_start = datetime.fromisoformat(_resource(shifted, "e1")["period"]["start"]).date()
    assert abs((encounter_start - born) - (date(2019, 3, 4) - date(1980, 5, 17))) <= timedelta(days=1)  # age kept


def test_a_deceased_patient_died_an_hour_before_the_anchor() -> None:
    shifted = bundle_time_shift(_bundle(deceased="2019-03-07T08:00:00+00:00"), ANCHOR)
    assert datetime.fromisoformat(_resource(shifted, "p1")["deceasedDateTime"]) == TARGET
    assert datetime.fromisoformat(_resource(shifted, "e1")["period"]["end"]) == TARGET - timedelta(hours=43, minutes=30)


def test_non_date_strings_and_the_input_are_untouched() -> None:
    original = _bundle()
    before = copy.deepcopy(original)
    patient = _resource(bundle_time_shift(original, ANCHOR), "p1")
    assert [i["value"] for i in patient["identifier"]] == UNTOUCHED
    assert patient["address"] == [{"postalCode": "2019"}]
    assert original == before  # pure


def test_shifting_again_moves_only_by_the_anchor_difference() -> None:
    once = bundle_time_shift(_bundle(), ANCHOR)
    assert bundle_time_shift(once, ANCHOR) == once  # a fixed point: the delta is 0
    later = bundle_time_shift(once, ANCHOR + timedelta(hours=5))
    assert [m - timedelta(hours=5) for m in _moments(later)] == _moments(once)


def test_a_bundle_without_dates_and_a_naive_anchor() -> None:
    bundle = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Organization", "id": "o"}}]}
    assert bundle_time_shift(bundle, ANCHOR) == bundle
    with pytest.raises(ValueError, match="timezone-aware"):
        bundle_time_shift(_bundle(), datetime(2025, 1, 15, 12))


def test_every_real_bundle_ends_an_hour_before_the_anchor() -> None:
    for name, bundle in bundles_read(SYNTHEA):
        shifted = bundle_time_shift(bundle, ANCHOR)
        assert latest_clinical_datetime(shifted) == TARGET, name
        patient = next(e["resource"] for e in shifted["entry"] if e["resource"]["resourceType"] == "Patient")
        assert date.fromisoformat(patient["birthDate"]) < TARGET.date(), name
        encounters = [e["resource"] for e in shifted["entry"] if e["resource"]["resourceType"] == "Encounter"]
        assert max(datetime.fromisoformat(e["period"]["end"]) for e in encounters) <= TARGET, name
