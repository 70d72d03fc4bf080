"""Bulk Data Access 2.0.0 on the sandbox FHIR server: kick-off, status, manifest, NDJSON files, cancel, errors.

The export task runs eagerly here (as in the demo); tests/population runs it on a real worker over HTTP.
"""

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.utils import timezone

from sandbox_ehr.auth.services import access_token_issue
from sandbox_ehr.fhir.models import BulkExportJob, FhirResource
from sandbox_ehr.fhir.services import resource_update
from tests.sandbox_fhir.conftest import Fhir

ASYNC = {"Prefer": "respond-async"}


@pytest.fixture(autouse=True)
def _bulk_dir(settings: Any, tmp_path: Path) -> None:
    settings.SANDBOX_BULK_DIR = str(tmp_path / "bulk")


@pytest.fixture
def kick_off(fhir: Fhir, django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    def run(path: str, client: Fhir | None = None, **headers: str) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return (client or fhir).get(path, **{**ASYNC, **headers})

    return run


def _status_path(response: Any) -> str:
    assert response.status_code == 202, response.content
    return str(response["Content-Location"]).split("/sandbox/fhir/", 1)[1]


def _lines(fhir: Fhir, url: str) -> list[dict[str, Any]]:
    response = fhir.get(url.split("/sandbox/fhir/", 1)[1])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+ndjson"
    return [orjson.loads(line) for line in b"".join(response.streaming_content).splitlines()]


def test_system_export_manifest_and_files(golden: dict[str, str], fhir: Fhir, kick_off: Callable[..., Any]) -> None:
    response = kick_off("$export?_type=Patient,Observation")
    assert response["Content-Location"].startswith("http://testserver/sandbox/fhir/$export-status/")
    manifest = fhir.get(_status_path(response))
    assert manifest.status_code == 200
    body = manifest.json()
    assert body["requiresAccessToken"] is True and body["error"] == []
    assert body["request"].endswith("$export?_type=Patient,Observation")
    assert [(o["type"], o["count"]) for o in body["output"]] == [("Patient", 2), ("Observation", 8)]
    patients = _lines(fhir, body["output"][0]["url"])
    assert {p["resourceType"] for p in patients} == {"Patient"} and len(patients) == 2


def test_group_export_reads_only_members(golden: dict[str, str], fhir: Fhir, kick_off: Callable[..., Any]) -> None:
    patient = next(ref for ref in golden.values() if ref.startswith("Patient/"))
    group = {
        "resourceType": "Group",
        "id": "ward-a",
        "type": "person",
        "actual": True,
        "member": [{"entity": {"reference": patient}}],
    }
    resource_update(resource_type="Group", resource_id="ward-a", resource=group, grant=None)
    body = fhir.get(_status_path(kick_off("Group/ward-a/$export"))).json()
    subjects = {
        r.get("subject", {}).get("reference", f"Patient/{r['id']}")
        for o in body["output"]
        for r in _lines(fhir, o["url"])
    }
    assert subjects == {patient}


def test_since_exports_only_what_changed(golden: dict[str, str], fhir: Fhir, kick_off: Callable[..., Any]) -> None:
    FhirResource.objects.update(last_updated=timezone.now() - timedelta(days=1))
    since = (timezone.now() - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    patient = next(ref for ref in golden.values() if ref.startswith("Patient/"))
    changed = orjson.loads(FhirResource.objects.get(resource_type="Patient", resource_id=patient[8:]).content)
    resource_update(
        resource_type="Patient", resource_id=patient[8:], resource={**changed, "gender": "other"}, grant=None
    )
    body = fhir.get(_status_path(kick_off(f"Patient/$export?_since={since}"))).json()
    assert [(o["type"], o["count"]) for o in body["output"]] == [("Patient", 1)]


def test_running_export_answers_202_with_progress(golden: dict[str, str], fhir: Fhir, settings: Any) -> None:
    response = fhir.get("$export", **ASYNC)  # on_commit not run: the job stays queued
    status = fhir.get(_status_path(response))
    assert status.status_code == 202
    assert status["X-Progress"] == "queued" and status["Retry-After"] == str(settings.SANDBOX_BULK_RETRY_AFTER)
    other_client = Fhir(fhir.client, access_token_issue(client_id="someone-else", scope="system/*.read"))
    assert other_client.get(_status_path(response)).status_code == 404  # another client cannot see it


def test_delete_cancels_and_removes_files(
    golden: dict[str, str], fhir: Fhir, kick_off: Callable[..., Any], settings: Any
) -> None:
    path = _status_path(kick_off("$export"))
    job = BulkExportJob.objects.get()
    assert (Path(settings.SANDBOX_BULK_DIR) / str(job.id)).is_dir()
    assert (
        fhir.client.delete(f"/sandbox/fhir/{path}", headers={"Authorization": f"Bearer {fhir.token}"}).status_code
        == 202
    )
    assert fhir.get(path).status_code == 404
    assert not (Path(settings.SANDBOX_BULK_DIR) / str(job.id)).exists()


@pytest.mark.parametrize(
    ("path", "headers", "status", "words"),
    [
        ("$export", {"Prefer": ""}, 400, "respond-async"),
        ("$export?_outputFormat=text/csv", {}, 400, "_outputFormat"),
        ("$export?_type=Nonsense", {}, 400, "Nonsense"),
        ("$export?_typeFilter=Observation%3Fcode%3D1", {}, 400, "_typeFilter"),
        ("$export?_since=2024-01-01", {}, 400, "instant"),
        ("Group/nope/$export", {}, 404, "Group"),
    ],
)
def test_bad_kick_off_is_an_operation_outcome(
    golden: dict[str, str], kick_off: Callable[..., Any], path: str, headers: dict[str, str], status: int, words: str
) -> None:
    response = kick_off(path, **headers)
    assert response.status_code == status
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome" and words in outcome["issue"][0]["diagnostics"]
    assert not BulkExportJob.objects.exists()


def test_export_needs_system_read_scopes(
    golden: dict[str, str], fhir_as: Callable[..., Fhir], kick_off: Callable[..., Any]
) -> None:
    assert kick_off("$export?_type=Observation", fhir_as("system/Patient.read")).status_code == 403
    patient = next(ref for ref in golden.values() if ref.startswith("Patient/"))[8:]
    assert kick_off("Patient/$export", fhir_as("patient/*.read", patient)).status_code == 403
    assert kick_off("$export", fhir_as(None)).status_code == 401
    assert kick_off("$export?_type=Patient", fhir_as("system/Patient.read")).status_code == 202


def test_file_of_unfinished_or_unknown_export_is_404(
    golden: dict[str, str], fhir: Fhir, kick_off: Callable[..., Any]
) -> None:
    path = _status_path(kick_off("$export?_type=Patient"))
    job_id = path.rsplit("/", 1)[1]
    assert fhir.get(f"$export-files/{job_id}/Patient.ndjson").status_code == 200
    assert fhir.get(f"$export-files/{job_id}/../../secret").status_code == 404
    assert fhir.get(f"$export-files/{job_id}/Observation.ndjson").status_code == 404
