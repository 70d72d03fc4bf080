"""DELETE [type]/[id] (R4 http.html#delete): versioned deletion, 410 on read, idempotent 204, If-Match, access."""

from typing import Any

from sandbox_ehr.fhir.models import FhirResource, FhirResourceHistory, FhirToken
from tests.sandbox_fhir.conftest import Fhir
from tests.sandbox_fhir.test_rest import OBSERVATION

ALICE_URN = "urn:uuid:00000000-0000-4000-8000-00000000000a"
BOB_URN = "urn:uuid:00000000-0000-4000-8000-00000000000b"


def _outcome(response: Any, status: int, text: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.content
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert text in body["issue"][0]["diagnostics"]
    return body


def _created(fhir: Fhir, **extra: Any) -> str:
    response = fhir.send("POST", "Observation", {**OBSERVATION, **extra})
    assert response.status_code == 201, response.content
    return f"Observation/{response.json()['id']}"


class DeleteTests:
    def test_delete_is_a_new_version_and_read_answers_410(self, fhir: Fhir) -> None:
        path = _created(fhir)
        response = fhir.send("DELETE", path, "")
        assert response.status_code == 204 and response.content == b"" and response["ETag"] == 'W/"2"'
        body = _outcome(fhir.get(path), 410, f"{path} was deleted (version 2)")
        assert body["issue"][0]["code"] == "deleted"
        assert fhir.get(f"{path}/_history/1").json()["valueQuantity"]["value"] == 90
        _outcome(fhir.get(f"{path}/_history/2"), 410, "is a deletion")
        _outcome(fhir.get(f"{path}/_history/3"), 404)

    def test_history_keeps_the_old_version_and_tokens_go(self, fhir: Fhir) -> None:
        path = _created(fhir)
        row = FhirResource.objects.get(resource_id=path.split("/")[1])
        assert FhirToken.objects.filter(resource=row).exists()
        fhir.send("DELETE", path, "")
        row.refresh_from_db()
        assert row.deleted and row.version_id == 2
        assert not FhirToken.objects.filter(resource=row).exists()
        old = FhirResourceHistory.objects.get(resource_id=row.resource_id)
        assert old.version_id == 1 and '"versionId":"1"' in old.content

    def test_search_and_conditional_create_no_longer_find_it(self, fhir: Fhir) -> None:
        path = _created(fhir)
        assert fhir.ids("Observation?identifier=urn:test:obs|one") == [path.split("/")[1]]
        fhir.send("DELETE", path, "")
        assert fhir.ids("Observation?identifier=urn:test:obs|one") == []
        assert fhir.ids("Observation?status=final") == []
        again = fhir.send("POST", "Observation", OBSERVATION, **{"If-None-Exist": "identifier=urn:test:obs|one"})
        assert again.status_code == 201 and f"Observation/{again.json()['id']}" != path

    def test_absent_and_already_deleted_answer_204(self, fhir: Fhir) -> None:
        response = fhir.send("DELETE", "Observation/never-there", "")
        assert response.status_code == 204 and "ETag" not in response
        path = _created(fhir)
        assert fhir.send("DELETE", path, "").status_code == 204
        again = fhir.send("DELETE", path, "")
        assert again.status_code == 204 and "ETag" not in again
        assert FhirResource.objects.get(resource_id=path.split("/")[1]).version_id == 2
        assert not FhirResource.objects.filter(resource_id="never-there").exists()

    def test_update_after_delete_recreates_with_the_next_version(self, fhir: Fhir) -> None:
        path = _created(fhir)
        fhir.send("DELETE", path, "")
        response = fhir.send("PUT", path, {**OBSERVATION, "id": path.split("/")[1]})
        assert response.status_code == 201 and response["ETag"] == 'W/"3"'
        assert fhir.get(path).status_code == 200
        _outcome(fhir.get(f"{path}/_history/2"), 410)
        assert fhir.ids("Observation?identifier=urn:test:obs|one") == [path.split("/")[1]]

    def test_if_match(self, fhir: Fhir) -> None:
        path = _created(fhir)
        _outcome(fhir.send("DELETE", path, "", **{"If-Match": 'W/"7"'}), 412, "If-Match")
        assert fhir.get(path).status_code == 200
        _outcome(fhir.send("DELETE", path, "", **{"If-Match": "seven"}), 400, "not a version ETag")
        assert fhir.send("DELETE", path, "", **{"If-Match": 'W/"1"'}).status_code == 204
        _outcome(fhir.send("DELETE", "Observation/never-there", "", **{"If-Match": 'W/"1"'}), 412)

    def test_bad_type_and_id(self, fhir: Fhir) -> None:
        _outcome(fhir.send("DELETE", "NoSuchType/1", ""), 404)
        _outcome(fhir.send("DELETE", "Observation/" + "x" * 65, ""), 400, "not a valid FHIR id")


class DeleteAccessTests:
    def test_needs_the_delete_scope(self, fhir: Fhir, fhir_as: Any) -> None:
        path = _created(fhir)
        _outcome(fhir_as("system/Observation.crus").send("DELETE", path, ""), 403, "'delete' on Observation")
        _outcome(fhir_as(scope=None).send("DELETE", path, ""), 401)
        assert fhir.get(path).status_code == 200
        assert fhir_as("system/Observation.write").send("DELETE", path, "").status_code == 204

    def test_patient_compartment_is_enforced(self, fhir_as: Any, golden: dict[str, str]) -> None:
        alice = golden[ALICE_URN].split("/")[1]
        fhir = fhir_as("patient/Observation.crud launch/patient", patient_id=alice)
        bobs = golden["urn:uuid:00000000-0000-4000-8000-000000000008"]
        _outcome(fhir.send("DELETE", bobs, ""), 403, "outside the patient compartment")
        assert fhir_as().get(bobs).status_code == 200
        mine = golden["urn:uuid:00000000-0000-4000-8000-000000000001"]
        assert fhir.send("DELETE", mine, "").status_code == 204
        assert fhir_as().get(mine).status_code == 410

    def test_deleted_resource_of_another_patient_is_403_not_410(self, fhir_as: Any, golden: dict[str, str]) -> None:
        bobs = golden["urn:uuid:00000000-0000-4000-8000-000000000008"]
        assert fhir_as().send("DELETE", bobs, "").status_code == 204
        alice = golden[ALICE_URN].split("/")[1]
        _outcome(fhir_as("patient/*.rs launch/patient", patient_id=alice).get(bobs), 403)

    def test_a_deleted_patient_leaves_the_simulator_and_picker(self, fhir_as: Any, golden: dict[str, str]) -> None:
        from sandbox_ehr.auth.selectors import patient_get, patient_list

        alice = golden[ALICE_URN].split("/")[1]
        assert patient_get(alice) is not None
        assert fhir_as().send("DELETE", f"Patient/{alice}", "").status_code == 204
        assert patient_get(alice) is None
        assert alice not in [p.id for p in patient_list(query=alice)[0]]


def _bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def _delete_entry(url: str, **request: str) -> dict[str, Any]:
    return {"request": {"method": "DELETE", "url": url, **request}}


class BundleDeleteTests:
    def test_transaction_deletes_with_the_other_entries(self, fhir: Fhir) -> None:
        path = _created(fhir)
        post = {"request": {"method": "POST", "url": "Observation"}, "resource": OBSERVATION}
        response = fhir.send("POST", "", _bundle("transaction", post, _delete_entry(path)))
        assert response.status_code == 200, response.content
        entries = response.json()["entry"]
        assert entries[0]["response"]["status"] == "201 Created"
        assert entries[1]["response"] == {"status": "204 No Content", "etag": 'W/"2"'}
        assert fhir.get(path).status_code == 410

    def test_transaction_is_all_or_nothing(self, fhir: Fhir) -> None:
        path = _created(fhir)
        bad = {"request": {"method": "POST", "url": "Observation"}, "resource": {"resourceType": "Observation"}}
        response = fhir.send("POST", "", _bundle("transaction", _delete_entry(path), bad))
        _outcome(response, 400, "Bundle entry 1")
        assert fhir.get(path).status_code == 200
        stale = fhir.send("POST", "", _bundle("transaction", _delete_entry(path, ifMatch='W/"9"')))
        _outcome(stale, 412, "Bundle entry 0")
        assert fhir.get(path).status_code == 200

    def test_transaction_names_a_resource_once(self, fhir: Fhir) -> None:
        path = _created(fhir)
        put = {"request": {"method": "PUT", "url": path}, "resource": {**OBSERVATION, "id": path.split("/")[1]}}
        _outcome(fhir.send("POST", "", _bundle("transaction", _delete_entry(path), put)), 400, "more than once")
        assert fhir.get(path).status_code == 200

    def test_batch_reports_each_delete(self, fhir: Fhir, fhir_as: Any) -> None:
        path = _created(fhir)
        response = fhir_as("system/Observation.crus").send("POST", "", _bundle("batch", _delete_entry(path)))
        assert response.json()["entry"][0]["response"]["status"] == "403"
        entries = fhir.send(
            "POST", "", _bundle("batch", _delete_entry(path), _delete_entry(path), _delete_entry(f"{path}/_history/1"))
        ).json()["entry"]
        assert entries[0]["response"]["etag"] == 'W/"2"'
        assert entries[1]["response"] == {"status": "204 No Content"}
        assert entries[2]["response"]["status"] == "400"
        assert "not a valid DELETE URL" in entries[2]["response"]["outcome"]["issue"][0]["diagnostics"]

    def test_conditional_delete_is_refused(self, fhir: Fhir) -> None:
        bundle = _bundle("transaction", _delete_entry("Observation?identifier=urn:test:obs|one"))
        _outcome(fhir.send("POST", "", bundle), 400, "Conditional update/create/delete")
