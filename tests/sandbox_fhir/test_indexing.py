"""Pure helpers: FHIR date ranges, reference keys and the search index of a resource."""

from datetime import UTC, datetime, timedelta

import pytest

from config.errors import ValidationFailed
from sandbox_ehr.fhir.dates import OPEN_END, date_range, element_range
from sandbox_ehr.fhir.indexing import reference_key, search_index


@pytest.mark.parametrize(
    ("text", "start", "length"),
    [
        ("2024", datetime(2024, 1, 1, tzinfo=UTC), timedelta(days=366)),
        ("2024-02", datetime(2024, 2, 1, tzinfo=UTC), timedelta(days=29)),
        ("2024-12", datetime(2024, 12, 1, tzinfo=UTC), timedelta(days=31)),
        ("2024-02-03", datetime(2024, 2, 3, tzinfo=UTC), timedelta(days=1)),
        ("2024-02-03T04:05", datetime(2024, 2, 3, 4, 5, tzinfo=UTC), timedelta(minutes=1)),
        ("2024-02-03T04:05:06+02:00", datetime(2024, 2, 3, 2, 5, 6, tzinfo=UTC), timedelta(seconds=1)),
        ("2024-02-03T04:05:06.250Z", datetime(2024, 2, 3, 4, 5, 6, 250000, tzinfo=UTC), timedelta(seconds=1)),
    ],
)
def test_date_range(text: str, start: datetime, length: timedelta) -> None:
    assert date_range(text) == (start, start + length)


@pytest.mark.parametrize("text", ["", "24", "2024-13", "2024-02-30", "2024-02-03 04:05", "yesterday"])
def test_bad_dates_are_validation_errors(text: str) -> None:
    with pytest.raises(ValidationFailed):
        date_range(text)


def test_open_period() -> None:
    start, end = element_range({"start": "2024-01-01T00:00:00Z"})  # type: ignore[misc]
    assert start == datetime(2024, 1, 1, tzinfo=UTC) and end == OPEN_END


@pytest.mark.parametrize(
    ("reference", "key"),
    [
        ("Patient/1", "Patient/1"),
        ("http://x.org/fhir/Patient/a-1", "Patient/a-1"),
        ("Patient/1/_history/2", "Patient/1"),
        ("#contained", None),
        ("urn:uuid:1234", None),
    ],
)
def test_reference_key(reference: str, key: str | None) -> None:
    assert reference_key(reference) == key


def test_provenance_takes_its_patient_from_its_target() -> None:
    provenance = {
        "resourceType": "Provenance",
        "target": [{"reference": "RiskAssessment/r1"}],
        "recorded": "2024-01-01T00:00:00Z",
        "occurredDateTime": "2024-01-01T00:00:00Z",
    }
    index = search_index(provenance, lambda key: "p7" if key == "RiskAssessment/r1" else "")
    assert index.patient_id == "p7"
    assert ("target", "", "RiskAssessment/r1") in index.tokens
    assert index.date_start == datetime(2024, 1, 1, tzinfo=UTC)


def test_observation_index() -> None:
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "identifier": [{"system": "urn:s", "value": "v"}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}, {"code": "hr"}]},
        "effectivePeriod": {"start": "2024-01-01", "end": "2024-01-02"},
    }
    index = search_index(observation)
    assert (index.patient_id, index.status) == ("p1", "final")
    assert set(index.tokens) == {
        ("identifier", "urn:s", "v"),
        ("code", "http://loinc.org", "8867-4"),
        ("code", "", "hr"),
    }
    assert (index.date_start, index.date_end) == (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC))
