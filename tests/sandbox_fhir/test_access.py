"""Access control: bearer tokens (401), scopes (403) and the patient compartment."""

from typing import Any

import pytest

from tests.sandbox_fhir.conftest import Fhir

ALICE_URN = "urn:uuid:00000000-0000-4000-8000-00000000000a"
BOB_URN = "urn:uuid:00000000-0000-4000-8000-00000000000b"


def _pid(golden: dict[str, str], urn: str) -> str:
    return golden[urn].split("/", 1)[1]


class AuthenticationTests:
    @pytest.mark.parametrize("path", ["Observation?code=8867-4", "Patient/x", ""])
    def test_no_token_is_401_with_bearer_challenge(self, fhir_as: Any, golden: dict[str, str], path: str) -> None:
        response = fhir_as(scope=None).get(path) if path else fhir_as(scope=None).send("POST", "", {})
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["issue"][0]["code"] == "login"

    def test_unknown_token_is_401_invalid_token(self, client: Any, golden: dict[str, str]) -> None:
        response = Fhir(client, "not-a-real-token").get("Patient")
        assert response.status_code == 401
        assert 'error="invalid_token"' in response["WWW-Authenticate"]

    def test_expired_token_is_401(self, client: Any, token_for: Any) -> None:
        from sandbox_ehr.auth.services import access_token_issue

        token = access_token_issue(client_id="t", scope="system/*.rs", expires_in=-1)
        assert Fhir(client, token).get("Patient").status_code == 401


class ScopeTests:
    def test_out_of_scope_type_is_403(self, fhir_as: Any, golden: dict[str, str]) -> None:
        fhir = fhir_as("system/Observation.rs")
        assert fhir.get("Observation?code=8867-4").status_code == 200
        response = fhir.get("Condition?code=44054006")
        assert response.status_code == 403 and response.json()["issue"][0]["code"] == "forbidden"
        assert fhir.get(golden[ALICE_URN]).status_code == 403

    def test_read_only_token_cannot_write(self, fhir_as: Any) -> None:
        fhir = fhir_as("system/Patient.rs")
        assert fhir.send("POST", "Patient", {"resourceType": "Patient"}).status_code == 403
        assert fhir.send("PUT", "Patient/p1", {"resourceType": "Patient", "id": "p1"}).status_code == 403
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}}],
        }
        assert fhir.send("POST", "", bundle).status_code == 403

    def test_v1_scopes_work(self, fhir_as: Any, golden: dict[str, str]) -> None:
        fhir = fhir_as("user/Observation.read")
        assert len(fhir.ids("Observation?code=8867-4")) == 5
        assert fhir.send("POST", "Observation", {}).status_code == 403


class CompartmentTests:
    def test_searches_only_see_the_patient(self, fhir_as: Any, golden: dict[str, str]) -> None:
        alice, bob = _pid(golden, ALICE_URN), _pid(golden, BOB_URN)
        fhir = fhir_as("patient/*.rs launch/patient", patient_id=alice)
        assert len(fhir.ids("Observation?code=8867-4")) == 4
        assert fhir.ids(f"Observation?patient={bob}") == []
        assert fhir.ids("Patient") == [alice]
        assert fhir.ids("Encounter") == [golden["urn:uuid:00000000-0000-4000-8000-0000000000ea"].split("/")[1]]

    def test_reads_of_other_patients_are_403(self, fhir_as: Any, golden: dict[str, str]) -> None:
        fhir = fhir_as("patient/*.rs launch/patient", patient_id=_pid(golden, ALICE_URN))
        assert fhir.get(golden[ALICE_URN]).status_code == 200
        assert fhir.get(golden["urn:uuid:00000000-0000-4000-8000-000000000001"]).status_code == 200
        assert fhir.get(golden[BOB_URN]).status_code == 403
        other = fhir.get(golden["urn:uuid:00000000-0000-4000-8000-000000000008"])
        assert other.status_code == 403 and other.json()["resourceType"] == "OperationOutcome"

    def test_writes_must_land_in_the_compartment(self, fhir_as: Any, golden: dict[str, str]) -> None:
        alice, bob = _pid(golden, ALICE_URN), _pid(golden, BOB_URN)
        fhir = fhir_as("patient/Observation.crs launch/patient", patient_id=alice)
        observation = {"resourceType": "Observation", "status": "final", "code": {"text": "note"}}
        mine = fhir.send("POST", "Observation", {**observation, "subject": {"reference": f"Patient/{alice}"}})
        assert mine.status_code == 201
        theirs = fhir.send("POST", "Observation", {**observation, "subject": {"reference": f"Patient/{bob}"}})
        assert theirs.status_code == 403
        assert fhir.send("POST", "Observation", observation).status_code == 403
        assert len(fhir_as().ids(f"Observation?patient={bob}")) == 1
