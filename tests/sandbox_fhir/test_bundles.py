"""Transaction and batch Bundles: urn:uuid rewriting, all-or-nothing, conditional create, per-entry responses."""

import copy
import json
from typing import Any

from sandbox_ehr.fhir.models import FhirResource
from tests.sandbox_fhir.conftest import Fhir, golden_bundle

PATIENT = {"resourceType": "Patient", "identifier": [{"system": "urn:test:mrn", "value": "MRN-T"}], "gender": "other"}


def _observation(subject: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": subject},
        "effectiveDateTime": "2024-05-01T10:00:00Z",
    }


def _transaction(*entries: dict[str, Any], kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def _post(resource: dict[str, Any], full_url: str = "", **request: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }
    if full_url:
        entry["fullUrl"] = full_url
    return entry


class TransactionTests:
    def test_urn_uuid_references_are_rewritten(self, fhir: Fhir) -> None:
        response = fhir.send(
            "POST",
            "",
            _transaction(
                _post(_observation("urn:uuid:3f1f5c2e-1111-4c1c-9c1c-3f1f5c2e1111")),
                _post(PATIENT, "urn:uuid:3f1f5c2e-1111-4c1c-9c1c-3f1f5c2e1111"),
            ),
        )
        assert response.status_code == 200
        bundle = response.json()
        assert bundle["type"] == "transaction-response"
        observation, patient = (e["resource"] for e in bundle["entry"])
        assert observation["subject"]["reference"] == f"Patient/{patient['id']}"
        assert [e["response"]["status"] for e in bundle["entry"]] == ["201 Created", "201 Created"]
        assert bundle["entry"][1]["response"]["location"] == f"Patient/{patient['id']}/_history/1"
        assert fhir.ids(f"Observation?patient={patient['id']}") == [observation["id"]]

    def test_golden_bundle_round_trips(self, fhir: Fhir) -> None:
        response = fhir.send("POST", "", golden_bundle(), Prefer="return=minimal")
        assert response.status_code == 200
        entries = response.json()["entry"]
        assert len(entries) == 14 and all("resource" not in e for e in entries)
        assert FhirResource.objects.count() == 14

    def test_a_bad_entry_writes_nothing(self, fhir: Fhir) -> None:
        bundle = golden_bundle()
        bundle["entry"][-1]["resource"]["authoredOn"] = "2024-13-45"
        response = fhir.send("POST", "", bundle)
        assert response.status_code == 400
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert "Bundle entry 13" in outcome["issue"][0]["diagnostics"]
        assert not FhirResource.objects.exists()

    def test_a_dangling_urn_reference_writes_nothing(self, fhir: Fhir) -> None:
        response = fhir.send(
            "POST",
            "",
            _transaction(
                _post(PATIENT, "urn:uuid:3f1f5c2e-1111-4c1c-9c1c-3f1f5c2e1111"),
                _post(_observation("urn:uuid:3f1f5c2e-2222-4c1c-9c1c-3f1f5c2e2222")),
            ),
        )
        assert response.status_code == 400 and not FhirResource.objects.exists()

    def test_a_deeply_nested_entry_is_400_and_writes_nothing(self, fhir: Fhir) -> None:
        levels = 300  # 600 JSON levels: valid JSON, but rewriting references recursed past Python's limit (a 500)
        nested = (
            '{"url": "urn:test:x", "extension": [' * levels
            + '{"url": "urn:test:x", "valueString": "leaf"}'
            + "]}" * levels
        )
        deep = json.dumps({**PATIENT, "extension": ["NESTED"]}).replace('"NESTED"', nested)
        text = json.dumps(
            _transaction(_post(PATIENT), {"resource": "DEEP", "request": {"method": "POST", "url": "Patient"}})
        )
        response = fhir.send("POST", "", text.replace('"DEEP"', deep))
        assert response.status_code == 400 and "more than 64 levels deep" in response.text
        assert not FhirResource.objects.exists()

    def test_a_failed_conditional_create_rolls_back_earlier_entries(self, fhir: Fhir, golden: dict[str, str]) -> None:
        before = FhirResource.objects.count()
        fhir.send("POST", "Patient", {**PATIENT, "identifier": [{"system": "urn:test:mrn", "value": "MRN-A"}]})
        response = fhir.send(
            "POST",
            "",
            _transaction(
                _post(_observation(golden["urn:uuid:00000000-0000-4000-8000-00000000000b"])),
                _post(PATIENT, ifNoneExist="identifier=urn:test:mrn|MRN-A"),
            ),
        )
        assert response.status_code == 412
        assert FhirResource.objects.count() == before + 1

    def test_conditional_create_inside_a_transaction_reuses_the_match(self, fhir: Fhir, golden: dict[str, str]) -> None:
        alice = golden["urn:uuid:00000000-0000-4000-8000-00000000000a"]
        response = fhir.send(
            "POST",
            "",
            _transaction(
                _post(
                    PATIENT,
                    "urn:uuid:3f1f5c2e-3333-4c1c-9c1c-3f1f5c2e3333",
                    ifNoneExist="identifier=urn:test:mrn|MRN-A",
                ),
                _post(_observation("urn:uuid:3f1f5c2e-3333-4c1c-9c1c-3f1f5c2e3333")),
            ),
        )
        assert response.status_code == 200
        patient_entry, observation_entry = response.json()["entry"]
        assert patient_entry["response"]["status"] == "200 OK"
        assert patient_entry["resource"]["id"] == alice.split("/")[1]
        assert observation_entry["resource"]["subject"]["reference"] == alice

    def test_put_entries_keep_their_ids_and_rerun_is_a_no_op(self, fhir: Fhir) -> None:
        bundle = _transaction(
            {
                "fullUrl": "urn:uuid:3f1f5c2e-4444-4c1c-9c1c-3f1f5c2e4444",
                "resource": {**PATIENT, "id": "fixed-1"},
                "request": {"method": "PUT", "url": "Patient/fixed-1"},
            }
        )
        first = fhir.send("POST", "", bundle).json()["entry"][0]["response"]
        second = fhir.send("POST", "", copy.deepcopy(bundle)).json()["entry"][0]["response"]
        assert first["status"] == "201 Created" and second["status"] == "200 OK"
        assert second["etag"] == 'W/"1"'

    def test_get_entries_read_and_search(self, fhir: Fhir, golden: dict[str, str]) -> None:
        alice = golden["urn:uuid:00000000-0000-4000-8000-00000000000a"]
        response = fhir.send(
            "POST",
            "",
            _transaction(
                {"request": {"method": "GET", "url": alice}},
                {"request": {"method": "GET", "url": f"Observation?patient={alice}&code=2524-7"}},
            ),
        )
        read, search = response.json()["entry"]
        assert read["resource"]["id"] == alice.split("/")[1]
        assert search["resource"]["total"] == 1

    def test_not_a_transaction(self, fhir: Fhir) -> None:
        assert fhir.send("POST", "", {"resourceType": "Bundle", "type": "collection"}).status_code == 400
        assert fhir.send("POST", "", PATIENT).status_code == 400
        patch = _transaction({"request": {"method": "PATCH", "url": "Patient/x"}})
        assert fhir.send("POST", "", patch).status_code == 400


class BatchTests:
    def test_each_entry_answers_on_its_own(self, fhir: Fhir) -> None:
        bad = {**PATIENT, "birthDate": "yesterday"}
        response = fhir.send("POST", "", _transaction(_post(PATIENT), _post(bad), kind="batch"))
        assert response.status_code == 200
        good, failed = response.json()["entry"]
        assert good["response"]["status"] == "201 Created"
        assert failed["response"]["status"] == "400"
        assert failed["response"]["outcome"]["resourceType"] == "OperationOutcome"
        assert FhirResource.objects.filter(resource_type="Patient").count() == 1
