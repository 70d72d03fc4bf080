"""PATCH [type]/[id] with JSON Patch (R4 http.html#patch, RFC 6902): versions, If-Match, errors, access, Bundles."""

import base64
import json
from typing import Any

import pytest

from sandbox_ehr.fhir.models import FhirResource, FhirResourceHistory
from tests.sandbox_fhir.conftest import Fhir
from tests.sandbox_fhir.test_delete import ALICE_URN, BOB_URN, _outcome
from tests.sandbox_fhir.test_rest import OBSERVATION

JSON_PATCH = "application/json-patch+json"
ALICES_OBSERVATION = "urn:uuid:00000000-0000-4000-8000-000000000001"
BOBS_OBSERVATION = "urn:uuid:00000000-0000-4000-8000-000000000008"


def _created(fhir: Fhir) -> str:
    response = fhir.send("POST", "Observation", OBSERVATION)
    assert response.status_code == 201, response.content
    return f"Observation/{response.json()['id']}"


def _patch(fhir: Fhir, path: str, operations: Any, **headers: str) -> Any:
    return fhir.send("PATCH", path, operations, content_type=JSON_PATCH, **headers)


def _replace(path: str, value: Any) -> dict[str, Any]:
    return {"op": "replace", "path": path, "value": value}


def _unchanged(fhir: Fhir, path: str) -> None:
    current = fhir.get(path)
    assert current["ETag"] == 'W/"1"' and current.json()["valueQuantity"]["value"] == 90
    assert not FhirResourceHistory.objects.exists()


class PatchTests:
    def test_patch_is_a_new_version(self, fhir: Fhir) -> None:
        path = _created(fhir)
        response = _patch(fhir, path, [_replace("/valueQuantity/value", 95)])
        assert response.status_code == 200, response.content
        assert response["ETag"] == 'W/"2"'
        assert response["Location"] == f"http://testserver/sandbox/fhir/{path}/_history/2"
        body = response.json()
        assert body["valueQuantity"]["value"] == 95 and body["meta"]["versionId"] == "2"
        assert fhir.get(path).json() == body
        assert fhir.get(f"{path}/_history/1").json()["valueQuantity"]["value"] == 90
        assert FhirResourceHistory.objects.get().version_id == 1

    def test_every_operation_applies_in_order(self, fhir: Fhir) -> None:
        path = _created(fhir)
        response = _patch(
            fhir,
            path,
            [
                {"op": "test", "path": "/status", "value": "final"},
                _replace("/status", "amended"),
                {"op": "add", "path": "/note", "value": [{"text": "checked"}]},
                {"op": "copy", "from": "/note/0", "path": "/note/-"},
                {"op": "move", "from": "/effectiveDateTime", "path": "/issued"},
                {"op": "remove", "path": "/category"},
            ],
        )
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["status"] == "amended" and body["note"] == [{"text": "checked"}, {"text": "checked"}]
        assert body["issued"] == "2024-05-01T10:00:00Z"
        assert "category" not in body and "effectiveDateTime" not in body

    def test_search_sees_the_patched_version(self, fhir: Fhir) -> None:
        path = _created(fhir)
        assert _patch(fhir, path, [_replace("/identifier/0/value", "two")]).status_code == 200
        assert fhir.ids("Observation?identifier=urn:test:obs|one") == []
        assert fhir.ids("Observation?identifier=urn:test:obs|two") == [path.split("/")[1]]

    def test_a_patch_that_changes_nothing_is_a_no_op(self, fhir: Fhir) -> None:
        path = _created(fhir)
        for operations in ([], [{"op": "test", "path": "/status", "value": "final"}], [_replace("/status", "final")]):
            response = _patch(fhir, path, operations)
            assert response.status_code == 200 and response["ETag"] == 'W/"1"'
        _unchanged(fhir, path)

    def test_if_match(self, fhir: Fhir) -> None:
        path = _created(fhir)
        body = _outcome(_patch(fhir, path, [_replace("/status", "amended")], **{"If-Match": 'W/"7"'}), 412, "If-Match")
        assert body["issue"][0]["code"] == "conflict"
        _unchanged(fhir, path)
        _outcome(
            _patch(fhir, path, [_replace("/status", "amended")], **{"If-Match": "seven"}), 400, "not a version ETag"
        )
        ok = _patch(fhir, path, [_replace("/status", "amended")], **{"If-Match": 'W/"1"'})
        assert ok.status_code == 200 and ok["ETag"] == 'W/"2"'

    def test_prefer_minimal_has_no_body(self, fhir: Fhir) -> None:
        response = _patch(fhir, _created(fhir), [_replace("/status", "amended")], Prefer="return=minimal")
        assert response.status_code == 200 and response.content == b"" and response["ETag"] == 'W/"2"'

    def test_missing_deleted_and_bad_addresses(self, fhir: Fhir) -> None:
        operations = [_replace("/status", "amended")]
        _outcome(_patch(fhir, "Observation/never-there", operations), 404, "Observation/never-there does not exist")
        path = _created(fhir)
        assert fhir.send("DELETE", path, "").status_code == 204
        _outcome(_patch(fhir, path, operations), 410, "was deleted (version 2)")
        _outcome(_patch(fhir, "NoSuchType/1", operations), 404)
        _outcome(_patch(fhir, "Observation/" + "x" * 65, operations), 400, "not a valid FHIR id")
        assert not FhirResource.objects.filter(resource_id="never-there").exists()


class PatchErrorTests:
    @pytest.mark.parametrize(
        ("operations", "text"),
        [
            ([_replace("/nope", 1)], "JSON Patch operation 0 (replace /nope) failed: can't replace a non-existent"),
            ([{"op": "remove", "path": "/category/3"}], "JSON Patch operation 0 (remove /category/3) failed"),
            ([{"op": "add", "path": "/category/x", "value": 1}], "'x' is not a valid sequence index"),
            ([{"op": "move", "from": "/nope", "path": "/issued"}], "JSON Patch operation 0 (move /issued) failed"),
            (
                [_replace("/status", "amended"), {"op": "test", "path": "/status", "value": "final"}],
                "JSON Patch operation 1 (test /status) failed: the value at '/status' is not \"final\"",
            ),
        ],
    )
    def test_a_patch_that_cannot_apply_is_422_and_writes_nothing(
        self, fhir: Fhir, operations: list[Any], text: str
    ) -> None:
        path = _created(fhir)
        body = _outcome(_patch(fhir, path, operations), 422, text)
        assert body["issue"][0]["code"] == "processing"
        _unchanged(fhir, path)

    @pytest.mark.parametrize(
        ("operations", "text"),
        [
            ({"op": "replace", "path": "/status", "value": "amended"}, "A JSON Patch is a JSON array of operations"),
            ("{not json", "not valid JSON"),
            (
                [{"op": "bogus", "path": "/status"}],
                "JSON Patch operation 0 (bogus /status) is not valid: Unknown operation 'bogus'",
            ),
            (
                [_replace("/status", "amended"), {"op": "add", "path": "/note"}],
                "JSON Patch operation 1 (add /note) is not valid: The operation does not contain a 'value' member",
            ),
            ([{"path": "/status"}], "JSON Patch operation 0 is not valid: Operation does not contain 'op' member"),
            (["replace"], "is not valid"),
        ],
    )
    def test_a_malformed_patch_is_400_and_writes_nothing(self, fhir: Fhir, operations: Any, text: str) -> None:
        path = _created(fhir)
        _outcome(_patch(fhir, path, operations), 400, text)
        _unchanged(fhir, path)

    @pytest.mark.parametrize(
        ("operations", "text"),
        [
            ([_replace("/id", "other")], "may not change the resource's id"),
            ([{"op": "remove", "path": "/id"}], "may not change the resource's id"),
            ([_replace("/resourceType", "Condition")], "may not change the resource's resourceType"),
            ([_replace("", [])], "must leave a JSON object"),
        ],
    )
    def test_type_and_id_cannot_change(self, fhir: Fhir, operations: list[Any], text: str) -> None:
        path = _created(fhir)
        _outcome(_patch(fhir, path, operations), 422, text)
        _unchanged(fhir, path)

    @pytest.mark.parametrize(
        ("operations", "text"),
        [
            ([_replace("/effectiveDateTime", "yesterday")], "The patched resource: Observation is not valid FHIR R4"),
            ([{"op": "add", "path": "/bogus", "value": 1}], "bogus"),
            ([{"op": "remove", "path": "/status"}], "status"),
            (
                [
                    {
                        "op": "add",
                        "path": "/subject",
                        "value": {"reference": "urn:uuid:0d9b7f0e-2d1a-4e55-8d8e-0d9b7f0e2d1a"},
                    }
                ],
                "urn:uuid",
            ),
        ],
    )
    def test_the_result_is_validated_like_put(self, fhir: Fhir, operations: list[Any], text: str) -> None:
        path = _created(fhir)
        body = _outcome(_patch(fhir, path, operations), 400)
        assert text in str(body)
        _unchanged(fhir, path)

    @pytest.mark.parametrize(
        ("content_type", "text"),
        [
            ("application/fhir+json", "FHIRPath Patch (a Parameters resource) is not supported"),
            ("application/json", "not 'application/json'"),
            ("text/plain", "not 'text/plain'"),
        ],
    )
    def test_other_media_types_are_415(self, fhir: Fhir, content_type: str, text: str) -> None:
        path = _created(fhir)
        fhirpath_patch = {
            "resourceType": "Parameters",
            "parameter": [
                {
                    "name": "operation",
                    "part": [
                        {"name": "type", "valueCode": "replace"},
                        {"name": "path", "valueString": "Observation.status"},
                        {"name": "value", "valueCode": "amended"},
                    ],
                }
            ],
        }
        body = _outcome(fhir.send("PATCH", path, fhirpath_patch, content_type=content_type), 415, text)
        assert body["issue"][0]["code"] == "not-supported"
        _unchanged(fhir, path)

    def test_copies_cannot_grow_the_resource_without_bound(self, fhir: Fhir) -> None:
        """Each copy of an array into itself doubles it: a short patch must not exhaust the server's memory."""
        path = _created(fhir)
        doubling = [{"op": "copy", "from": "/category", "path": "/category/-"}] * 17
        _outcome(_patch(fhir, path, doubling), 422, "copy operations would add more than")
        _unchanged(fhir, path)

    def test_odd_if_match_values_are_400(self, fhir: Fhir) -> None:
        path = _created(fhir)
        _outcome(
            _patch(fhir, path, [_replace("/status", "amended")], **{"If-Match": 'W/"\u00b2"'}),
            400,
            "not a version ETag",
        )
        for if_match in (1, ['W/"1"']):
            stale = _patch_entry(path, _binary([_replace("/status", "amended")]), ifMatch=if_match)
            _outcome(fhir.send("POST", "", _bundle("transaction", stale)), 400, "not a version ETag")
        _unchanged(fhir, path)

    def test_json_patch_with_a_charset_is_accepted(self, fhir: Fhir) -> None:
        path = _created(fhir)
        response = fhir.send(
            "PATCH", path, [_replace("/status", "amended")], content_type=f"{JSON_PATCH}; charset=utf-8"
        )
        assert response.status_code == 200, response.content


class PatchAccessTests:
    def test_needs_the_update_scope(self, fhir: Fhir, fhir_as: Any) -> None:
        path = _created(fhir)
        operations = [_replace("/status", "amended")]
        _outcome(_patch(fhir_as("system/Observation.crds"), path, operations), 403, "'update' on Observation")
        _outcome(_patch(fhir_as(scope=None), path, operations), 401)
        _unchanged(fhir, path)
        assert _patch(fhir_as("system/Observation.ru"), path, operations).status_code == 200

    def test_needs_the_read_scope_too(self, fhir: Fhir, fhir_as: Any, golden: dict[str, str]) -> None:
        """A patch answers with the stored resource and its `test` operations probe it: an update-only token
        must not read through it."""
        path = _created(fhir)
        write_only = fhir_as("system/Observation.u")
        _outcome(_patch(write_only, path, []), 403, "'read' on Observation")
        _outcome(_patch(write_only, path, [{"op": "test", "path": "/status", "value": "final"}]), 403)
        entries = write_only.send("POST", "", _bundle("batch", _patch_entry(path, _binary([])))).json()["entry"]
        assert entries[0]["response"]["status"] == "403" and "resource" not in entries[0]
        _unchanged(fhir, path)
        alice = golden[ALICE_URN].split("/")[1]
        reads_alice_only = fhir_as("patient/Observation.r user/Observation.u launch/patient", patient_id=alice)
        _outcome(_patch(reads_alice_only, golden[BOBS_OBSERVATION], []), 403, "outside the patient compartment")
        assert _patch(reads_alice_only, golden[ALICES_OBSERVATION], []).status_code == 200

    def test_patient_compartment_is_enforced(self, fhir_as: Any, golden: dict[str, str]) -> None:
        alice, bob = golden[ALICE_URN], golden[BOB_URN]
        fhir = fhir_as("patient/Observation.rus launch/patient", patient_id=alice.split("/")[1])
        operations = [_replace("/status", "amended")]
        _outcome(_patch(fhir, golden[BOBS_OBSERVATION], operations), 403, "outside the patient compartment")
        mine = golden[ALICES_OBSERVATION]
        assert _patch(fhir, mine, operations).status_code == 200
        moved = _patch(fhir, mine, [_replace("/subject/reference", bob)])
        _outcome(moved, 403, "outside the patient compartment")
        assert fhir_as().get(mine).json()["subject"]["reference"] == alice

    def test_deleted_resource_of_another_patient_is_403_not_410(self, fhir_as: Any, golden: dict[str, str]) -> None:
        bobs = golden[BOBS_OBSERVATION]
        assert fhir_as().send("DELETE", bobs, "").status_code == 204
        fhir = fhir_as("patient/Observation.rus launch/patient", patient_id=golden[ALICE_URN].split("/")[1])
        _outcome(_patch(fhir, bobs, [_replace("/status", "amended")]), 403)


def _bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def _binary(operations: Any, content_type: str = JSON_PATCH) -> dict[str, Any]:
    data = base64.b64encode(json.dumps(operations).encode()).decode()
    return {"resourceType": "Binary", "contentType": content_type, "data": data}


def _patch_entry(url: str, resource: Any, **request: Any) -> dict[str, Any]:
    return {"resource": resource, "request": {"method": "PATCH", "url": url, **request}}


class BundlePatchTests:
    def test_transaction_patches_with_the_other_entries(self, fhir: Fhir) -> None:
        path = _created(fhir)
        encounter = {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        }
        post = {
            "fullUrl": "urn:uuid:3f1f5c2e-2222-4c1c-9c1c-3f1f5c2e2222",
            "resource": encounter,
            "request": {"method": "POST", "url": "Encounter"},
        }
        link = {"op": "add", "path": "/encounter", "value": {"reference": post["fullUrl"]}}
        patch = _patch_entry(path, _binary([_replace("/status", "amended"), link]), ifMatch='W/"1"')
        response = fhir.send("POST", "", _bundle("transaction", patch, post))
        assert response.status_code == 200, response.content
        patched, created = response.json()["entry"]
        assert patched["response"]["status"] == "200 OK" and patched["response"]["etag"] == 'W/"2"'
        assert patched["response"]["location"] == f"{path}/_history/2"
        current = fhir.get(path).json()
        assert current["status"] == "amended" and patched["resource"] == current
        assert current["encounter"]["reference"] == f"Encounter/{created['resource']['id']}"

    @pytest.mark.parametrize(
        ("entry_patch", "status", "text"),
        [
            (
                _binary([{"op": "test", "path": "/status", "value": "amended"}]),
                422,
                "Bundle entry 1: JSON Patch operation 0 (test /status) failed",
            ),
            (_binary([_replace("/effectiveDateTime", "yesterday")]), 400, "Bundle entry 1: Observation is not valid"),
            (_binary([_replace("/id", "x")]), 422, "Bundle entry 1: A patch may not change the resource's id"),
        ],
    )
    def test_transaction_is_all_or_nothing(
        self, fhir: Fhir, entry_patch: dict[str, Any], status: int, text: str
    ) -> None:
        first, second = _created(fhir), _created(fhir)
        good = _patch_entry(first, _binary([_replace("/valueQuantity/value", 95)]))
        _outcome(fhir.send("POST", "", _bundle("transaction", good, _patch_entry(second, entry_patch))), status, text)
        for path in (first, second):
            assert fhir.get(path).json()["valueQuantity"]["value"] == 90
        assert not FhirResourceHistory.objects.exists()

    def test_transaction_if_match_and_once_per_resource(self, fhir: Fhir) -> None:
        path = _created(fhir)
        stale = _patch_entry(path, _binary([_replace("/status", "amended")]), ifMatch='W/"9"')
        _outcome(fhir.send("POST", "", _bundle("transaction", stale)), 412, "Bundle entry 0")
        twice = _bundle(
            "transaction",
            _patch_entry(path, _binary([_replace("/status", "amended")])),
            {"request": {"method": "DELETE", "url": path}},
        )
        _outcome(fhir.send("POST", "", twice), 400, "appears more than once")
        _unchanged(fhir, path)

    def test_batch_reports_each_patch(self, fhir: Fhir, fhir_as: Any) -> None:
        path = _created(fhir)
        operations = [_replace("/status", "amended")]
        fhirpath = {"resourceType": "Parameters", "parameter": []}
        entries = fhir.send(
            "POST",
            "",
            _bundle(
                "batch",
                _patch_entry(path, fhirpath),
                _patch_entry(path, {**OBSERVATION, "id": path.split("/")[1]}),
                _patch_entry(path, _binary(operations, "application/fhir+json")),
                _patch_entry(path, {**_binary(operations), "data": "not base64!"}),
                _patch_entry("Observation/never-there", _binary(operations)),
                _patch_entry(f"{path}?status=final", _binary(operations)),
                _patch_entry(path, _binary(operations)),
            ),
        ).json()["entry"]
        statuses = [e["response"]["status"] for e in entries]
        assert statuses == ["415", "400", "415", "400", "404", "400", "200 OK"]
        diagnostics = [e["response"].get("outcome", {}).get("issue", [{}])[0].get("diagnostics", "") for e in entries]
        assert "FHIRPath Patch" in diagnostics[0] and "in a Binary resource" in diagnostics[1]
        assert "not base64" in diagnostics[3] and "Conditional update/create/delete/patch" in diagnostics[5]
        assert fhir.get(path).json()["status"] == "amended"
        denied = fhir_as("system/Observation.crs").send("POST", "", _bundle("batch", _patch_entry(path, _binary([]))))
        assert denied.json()["entry"][0]["response"]["status"] == "403"
