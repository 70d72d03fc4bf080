"""REST interactions: metadata, create, read, update, vread, conditional create, validation errors."""

from typing import Any

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from sandbox_ehr.fhir.models import FhirResource, FhirResourceHistory
from tests.sandbox_fhir.conftest import Fhir

OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "status": "final",
    "identifier": [{"system": "urn:test:obs", "value": "one"}],
    "category": [
        {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}
    ],
    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
    "effectiveDateTime": "2024-05-01T10:00:00Z",
    "valueQuantity": {"value": 90, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
}


def _outcome(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body


class MetadataTests:
    def test_capability_statement_is_public_valid_and_advertises_smart(self, fhir_as: Any) -> None:
        response = fhir_as(scope=None).get("metadata")
        assert response.status_code == 200
        body = response.json()
        CapabilityStatement.model_validate(body)
        security = body["rest"][0]["security"]
        assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
        uris = {e["url"]: e["valueUri"] for e in security["extension"][0]["extension"]}
        assert uris["authorize"] == "http://testserver/sandbox/auth/authorize"
        assert uris["token"] == "http://testserver/sandbox/auth/token"
        observation = next(r for r in body["rest"][0]["resource"] if r["type"] == "Observation")
        assert {"code", "category", "date", "patient"} <= {p["name"] for p in observation["searchParam"]}

    def test_smart_configuration_is_public(self, fhir_as: Any) -> None:
        assert fhir_as(scope=None).get(".well-known/smart-configuration").status_code == 200


class CreateReadUpdateTests:
    def test_create_answers_201_with_location_and_etag(self, fhir: Fhir) -> None:
        response = fhir.send("POST", "Observation", OBSERVATION)
        assert response.status_code == 201
        body = response.json()
        assert response["ETag"] == 'W/"1"'
        assert response["Location"] == f"http://testserver/sandbox/fhir/Observation/{body['id']}/_history/1"
        assert body["meta"]["versionId"] == "1" and body["meta"]["lastUpdated"].endswith("Z")

    def test_create_ignores_a_client_id(self, fhir: Fhir) -> None:
        body = fhir.send("POST", "Observation", {**OBSERVATION, "id": "mine"}).json()
        assert body["id"] != "mine"

    def test_read_update_vread(self, fhir: Fhir) -> None:
        created = fhir.send("POST", "Observation", OBSERVATION).json()
        path = f"Observation/{created['id']}"
        read = fhir.get(path)
        assert read.status_code == 200 and read.json() == created and read["ETag"] == 'W/"1"'
        changed = {**created, "valueQuantity": {**OBSERVATION["valueQuantity"], "value": 95}}
        updated = fhir.send("PUT", path, changed)
        assert updated.status_code == 200 and updated["ETag"] == 'W/"2"'
        assert fhir.get(path).json()["valueQuantity"]["value"] == 95
        assert fhir.get(f"{path}/_history/1").json()["valueQuantity"]["value"] == 90
        assert fhir.get(f"{path}/_history/2").json()["meta"]["versionId"] == "2"
        _outcome(fhir.get(f"{path}/_history/3"), 404)

    def test_identical_update_is_a_no_op(self, fhir: Fhir) -> None:
        created = fhir.send("POST", "Observation", OBSERVATION).json()
        again = fhir.send("PUT", f"Observation/{created['id']}", created)
        assert again.status_code == 200 and again["ETag"] == 'W/"1"'
        assert not FhirResourceHistory.objects.exists()

    def test_update_as_create_with_client_id(self, fhir: Fhir) -> None:
        response = fhir.send("PUT", "Observation/client-chosen-1", {**OBSERVATION, "id": "client-chosen-1"})
        assert response.status_code == 201 and response.json()["id"] == "client-chosen-1"

    def test_if_match_guards_the_version(self, fhir: Fhir) -> None:
        created = fhir.send("POST", "Observation", OBSERVATION).json()
        path, amended = f"Observation/{created['id']}", {**created, "status": "amended"}
        _outcome(fhir.send("PUT", path, amended, **{"If-Match": 'W/"7"'}), 412)
        ok = fhir.send("PUT", path, amended, **{"If-Match": 'W/"1"'})
        assert ok.status_code == 200

    def test_prefer_minimal_has_no_body(self, fhir: Fhir) -> None:
        response = fhir.send("POST", "Observation", OBSERVATION, Prefer="return=minimal")
        assert response.status_code == 201 and response.content == b"" and response["Location"]


class ValidationTests:
    @pytest.mark.parametrize(
        ("body", "fragment"),
        [
            ({**OBSERVATION, "status": None}, "status"),
            ({**OBSERVATION, "bogus": 1}, "bogus"),
            ({**OBSERVATION, "effectiveDateTime": "yesterday"}, "effectiveDateTime"),
            ({**OBSERVATION, "subject": {"reference": "urn:uuid:0d9b7f0e-2d1a-4e55-8d8e-0d9b7f0e2d1a"}}, "urn:uuid"),
        ],
    )
    def test_bad_resource_is_400_and_writes_nothing(self, fhir: Fhir, body: dict[str, Any], fragment: str) -> None:
        outcome = _outcome(fhir.send("POST", "Observation", body), 400)
        assert fragment in str(outcome)
        assert not FhirResource.objects.exists()

    def test_deep_nesting_is_400_not_a_crash(self, fhir: Fhir) -> None:
        nested: dict[str, Any] = {"url": "urn:test:x", "valueString": "leaf"}
        for _ in range(150):  # the validator recursed past Python's limit on this (a 500)
            nested = {"url": "urn:test:x", "extension": [nested]}
        outcome = _outcome(fhir.send("POST", "Observation", {**OBSERVATION, "extension": [nested]}), 400)
        assert "more than 64 levels deep" in outcome["issue"][0]["diagnostics"]
        assert not FhirResource.objects.exists()

    def test_body_type_must_match_url(self, fhir: Fhir) -> None:
        _outcome(fhir.send("POST", "Patient", OBSERVATION), 400)
        _outcome(fhir.send("PUT", "Observation/x1", {**OBSERVATION, "id": "x2"}), 400)

    def test_not_json(self, fhir: Fhir) -> None:
        _outcome(fhir.send("POST", "Observation", "{not json"), 400)

    def test_unknown_paths_and_methods(self, fhir: Fhir) -> None:
        _outcome(fhir.get("Observation/missing"), 404)
        _outcome(fhir.get("NoSuchType/1"), 404)
        _outcome(fhir.get("Observation/1/_history/1/extra"), 404)
        _outcome(fhir.send("POST", "Observation/1", ""), 405)


class ConditionalCreateTests:
    def test_match_returns_the_existing_resource(self, fhir: Fhir) -> None:
        first = fhir.send("POST", "Observation", OBSERVATION, **{"If-None-Exist": "identifier=urn:test:obs|one"})
        second = fhir.send("POST", "Observation", OBSERVATION, **{"If-None-Exist": "identifier=urn:test:obs|one"})
        assert first.status_code == 201 and second.status_code == 200
        assert second.json()["id"] == first.json()["id"]
        assert FhirResource.objects.filter(resource_type="Observation").count() == 1

    def test_a_create_only_token_is_not_shown_the_match(self, fhir: Fhir, fhir_as: Any) -> None:
        """Answering with the existing resource is a read: as in a Bundle, it needs the read scope."""
        condition = {"If-None-Exist": "identifier=urn:test:obs|one"}
        fhir.send("POST", "Observation", OBSERVATION, **condition)
        denied = fhir_as("system/Observation.c").send("POST", "Observation", OBSERVATION, **condition)
        body = _outcome(denied, 403)
        assert "'read' on Observation" in body["issue"][0]["diagnostics"] and "valueQuantity" not in denied.text
        assert FhirResource.objects.filter(resource_type="Observation").count() == 1

    def test_several_matches_is_412(self, fhir: Fhir) -> None:
        fhir.send("POST", "Observation", OBSERVATION)
        fhir.send("POST", "Observation", OBSERVATION)
        _outcome(fhir.send("POST", "Observation", OBSERVATION, **{"If-None-Exist": "identifier=urn:test:obs|one"}), 412)

    def test_unsupported_condition_is_400(self, fhir: Fhir) -> None:
        _outcome(fhir.send("POST", "Observation", OBSERVATION, **{"If-None-Exist": "value-quantity=90"}), 400)
