"""Patient.deceased[x] is shown wherever a patient is named (product sidebar banner and sandbox chart); the unit a
patient is in is read one way by every door that shows or routes by it."""

from datetime import UTC, datetime

import pytest

from fhirapp.patient import deceased_text, patient_unit
from fhirapp.snapshot import PatientSnapshot
from sandbox_ehr.auth.selectors import PatientSummary
from sidebar.panels import patient_banner


@pytest.mark.parametrize(
    ("patient", "expected"),
    [
        ({"deceasedDateTime": "1989-07-25T02:39:21+00:00"}, "1989-07-25"),
        ({"deceasedBoolean": True}, "yes"),
        ({"deceasedBoolean": False}, ""),
        ({}, ""),
        ({"deceasedDateTime": 19890725}, ""),  # malformed: not claimed
    ],
)
def test_deceased_text(patient: dict[str, object], expected: str) -> None:
    assert deceased_text(patient) == expected


def test_sidebar_banner_says_deceased() -> None:
    banner = patient_banner(
        {
            "resourceType": "Patient",
            "name": [{"given": ["Austin"], "family": "Franecki"}],
            "birthDate": "1920-04-23",
            "gender": "male",
            "deceasedDateTime": "1989-07-25T02:39:21+00:00",
        }
    )
    assert banner == {"name": "Austin Franecki", "birth_date": "1920-04-23", "gender": "male", "deceased": "1989-07-25"}
    assert patient_banner({"gender": "female"})["deceased"] == ""


def test_sandbox_chart_age_stops_at_death() -> None:
    dead = PatientSummary(
        id="p", name="A", gender="male", birth_date="1920-04-23", source="Synthea", deceased="1989-07-25"
    )
    assert dead.age == 69
    assert (
        PatientSummary(id="p", name="A", gender="male", birth_date="1920-04-23", source="Synthea", deceased="yes").age
        is not None
    )  # date unknown: age today, marked deceased


def _encounter(start: str, *locations: object) -> dict[str, object]:
    return {"resourceType": "Encounter", "id": start, "period": {"start": start}, "location": list(locations)}


def _at(name: str, status: str | None = None) -> dict[str, object]:
    return {"location": {"display": name}, **({"status": status} if status else {})}


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ([_encounter("2026-01-02", _at("ED", "completed"), _at("MICU", "active"), _at("Ward 4"))], "MICU"),
        ([_encounter("2026-01-02", _at("ED"), _at("Ward 4"))], "Ward 4"),  # none active: the last listed
        ([_encounter("2026-01-03", _at("Ward 4")), _encounter("2026-01-02", _at("MICU", "active"))], "Ward 4"),
        ([_encounter("2026-01-02")], ""),
        ([{"resourceType": "Patient", "id": "p"}], ""),
    ],
)
def test_patient_unit_is_the_latest_encounters_active_location(
    resources: list[dict[str, object]], expected: str
) -> None:
    assert patient_unit(resources) == expected


@pytest.mark.parametrize(
    ("location", "path"),
    [(["MICU"], "location.0"), ([{"location": "MICU"}], "location.0.location"), ([{"status": 1}], "location.0.status")],
)
def test_an_encounter_with_a_malformed_location_is_set_aside(location: object, path: str) -> None:
    """The unit is read from Encounter.location: a location of another shape is the Encounter's problem, named,
    and never reaches `patient_unit` (it failed there before, ending a population chunk)."""
    snapshot = PatientSnapshot(patient_id="p1", as_of=datetime.now(UTC))
    encounter = {"resourceType": "Encounter", "id": "e1", "location": location}
    snapshot.add([encounter], key="encounters", source="fetched", received_at=datetime.now(UTC))
    assert snapshot.resources == []
    assert snapshot.unusable[0].startswith(f"encounters: Encounter/e1: {path}: expected"), snapshot.unusable
