"""Prefetch is untrusted: a malformed value is a 400 naming it, a malformed resource is set aside with a note."""

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from django.test import Client

from fhirapp.snapshot import PatientSnapshot
from tests.cds_hooks.conftest import TokenFactory, physionet_stay_resources

pytestmark = pytest.mark.integration


def _call(make_token: TokenFactory, service: str, prefetch: dict[str, Any], hook: str = "patient-view") -> Any:
    path = f"/cds-services/{service}"
    body = {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "prefetch": prefetch,
        "context": {"userId": "Practitioner/1", "patientId": "p1", "encounterId": "e1"},
    }
    return Client().post(
        path, data=orjson.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {make_token(path)}"
    )


def _bundle(*entries: Any) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": list(entries)}


@pytest.mark.django_db
@pytest.mark.parametrize("value", [[1, 2], "Observation", 7, _bundle(1, "x"), {"resourceType": "Bundle", "link": "x"}])
def test_a_malformed_prefetch_value_is_a_400_naming_it(
    trusted_client: Any, models_installed: None, make_token: TokenFactory, value: Any
) -> None:
    response = _call(make_token, "stratify-news2", {"patient": None, "vitals": value, "labs": None})
    assert response.status_code == 400, response.content
    body = orjson.loads(response.content)
    assert body["code"] == "invalid" and body["extra"] == {"path": "prefetch.vitals"}


@pytest.mark.django_db
def test_malformed_resources_are_set_aside_with_a_note(
    trusted_client: Any, models_installed: None, make_token: TokenFactory
) -> None:
    real = physionet_stay_resources(last_rows=6)
    vitals = [r for r in real if r["resourceType"] == "Observation"]
    broken = {**vitals[0], "id": "broken", "valueQuantity": {"value": True}, "code": [vitals[0]["code"]]}
    patient = next(r for r in real if r["resourceType"] == "Patient")
    prefetch = {
        "patient": patient,
        "labs": None,
        "vitals": _bundle(
            {"resource": [1]},
            {"resource": broken},
            {"resource": {"resourceType": {"a": 1}}},
            *({"resource": r} for r in vitals[1:]),
        ),
    }
    response = _call(make_token, "stratify-news2", prefetch)
    assert response.status_code == 200, response.content
    detail = orjson.loads(response.content)["cards"][0]["detail"]
    assert "3 malformed resource(s) set aside as unusable" in detail, detail


@pytest.mark.django_db
def test_a_type_confused_encounter_does_not_break_readmission(
    trusted_client: Any, models_installed: None, make_token: TokenFactory
) -> None:
    encounter = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": [{"code": "IMP"}],
        "hospitalization": [],
        "period": {"start": 20240101},
    }
    prefetch = {
        "patient": {"resourceType": "Patient", "id": "p1", "birthDate": ["1950"]},
        "encounters": _bundle({"resource": encounter}),
        "labs": None,
        "other-observations": None,
        "conditions": _bundle({"resource": {"resourceType": "Condition", "code": "E11"}}),
        "medications": None,
        "procedures": None,
    }
    response = _call(make_token, "stratify-readmission", prefetch, hook="encounter-discharge")
    assert response.status_code == 200, response.content
    assert "malformed resource(s) set aside" in orjson.loads(response.content)["cards"][0]["detail"]


def test_the_snapshot_sets_aside_unhashable_and_out_of_range_values() -> None:
    snapshot = PatientSnapshot(patient_id="p1", as_of=datetime.now(UTC))
    snapshot.add(
        [
            {"resourceType": ["Observation"], "id": "1"},
            {"resourceType": "Observation", "id": {"x": 1}},
            {"resourceType": "Patient", "id": "p1", "birthDate": "0001-01-01T00:00:00+14:00"},
            "text",
            {"resourceType": "Patient", "id": "p1", "birthDate": "1950-02-03"},
        ],
        key="patient",
        source="prefetch",
        received_at=datetime.now(UTC),
    )
    assert [e.resource["id"] for e in snapshot.entries] == ["p1"]
    assert len(snapshot.unusable) == 4
    assert snapshot.unusable[2] == (
        "patient: Patient/p1: birthDate: holds a NUL character, or a date outside the years 1000 to 2999"
    )


@pytest.mark.django_db
def test_a_bundle_with_null_links_and_entries_is_read_as_empty(
    trusted_client: Any, models_installed: None, make_token: TokenFactory
) -> None:
    """Found by the fuzz test: `"link": null` reached `next_link` and failed there."""
    empty = {"resourceType": "Bundle", "type": "searchset", "entry": None, "link": None}
    response = _call(make_token, "stratify-news2", {"patient": None, "vitals": empty, "labs": None})
    assert response.status_code == 200, response.content
