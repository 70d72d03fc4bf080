"""Patient.deceased[x] is shown wherever a patient is named: product sidebar banner and sandbox chart."""

import pytest

from fhirapp.patient import deceased_text
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
