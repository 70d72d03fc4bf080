"""The population API (DRF) over a real run: cohorts, runs (start, status, cancel), worklist rows, the OpenAPI
schema; Django session auth with CSRF on writes, governance-group permissions, the one error shape, audit."""

from typing import Any

import pytest

from audit.models import AuditRecord
from population.models import PatientResult, PopulationRun
from population.selectors import WorklistFilter, worklist_rows
from population.services import runs
from tests.population.conftest import group_client

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
API = "/api/population"


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"message", "code", "extra"}
    return body


def test_admin_starts_a_run_and_a_clinician_reads_the_ranked_rows(ehr: dict[str, Any]) -> None:
    admin = group_client("admin")
    started = admin.post(f"{API}/cohorts/icu/runs", {"since": "full"}, content_type="application/json")
    assert started.status_code == 202, started.content
    run_id = started.json()["id"]
    status = admin.get(f"{API}/runs/{run_id}").json()
    assert status["status"] == "completed" and status["patients_scored"] == 4 and status["cohort"] == "icu"
    assert status["duration_s"] > 0 and status["patients_per_minute"] > 0
    assert [c["slug"] for c in admin.get(f"{API}/cohorts").json()] == ["icu"]
    assert admin.get(f"{API}/cohorts/icu").json()["latest_run"] == run_id
    assert [r["id"] for r in admin.get(f"{API}/cohorts/icu/runs").json()] == [run_id]

    clinician = group_client("clinician")
    page = clinician.get(f"{API}/cohorts/icu/worklist", {"model": "news2", "page_size": "3"}).json()
    run = PopulationRun.objects.get(pk=run_id)
    expected = list(worklist_rows(run, WorklistFilter(model="news2")).values_list("patient_id", flat=True))
    assert (page["run"], page["model"], page["count"], page["pages"]) == (run_id, "news2", 4, 2)
    second = clinician.get(f"{API}/cohorts/icu/worklist", {"model": "news2", "page_size": "3", "page": "2"}).json()
    assert [r["patient_id"] for r in page["results"] + second["results"]] == expected
    top = PatientResult.objects.get(run=run, model_name="news2", patient_id=expected[0])
    assert page["results"][0]["band"] == top.band and page["results"][0]["drivers"] == top.drivers
    band = clinician.get(f"{API}/cohorts/icu/worklist", {"model": "news2", "band": top.band or "high"}).json()
    assert all(r["band"] == top.band for r in band["results"])
    reads = AuditRecord.objects.filter(action="population_worklist", actor__startswith="user-clinician")
    assert reads.count() == 3 and reads.first().detail["cohort"] == "icu"  # type: ignore[union-attr]


def test_groups_decide_who_reads_and_who_starts(ehr: dict[str, Any]) -> None:
    assert _error(group_client(None).get(f"{API}/cohorts"), 403)["code"] == "not_authenticated"
    auditor, clinician = group_client("auditor"), group_client("clinician")
    assert auditor.get(f"{API}/cohorts/icu/runs").status_code == 200
    assert _error(auditor.get(f"{API}/cohorts/icu/worklist"), 403)["code"] == "permission_denied"
    denied = _error(clinician.post(f"{API}/cohorts/icu/runs", {}, content_type="application/json"), 403)
    assert "admin" in denied["message"]
    assert not PopulationRun.objects.exists()
    assert _error(clinician.get(f"{API}/cohorts/nowhere"), 404)
    assert _error(clinician.get(f"{API}/runs/999999"), 404)


def test_cancel_and_the_one_error_shape(ehr: dict[str, Any]) -> None:
    admin = group_client("admin")
    invalid = _error(admin.post(f"{API}/cohorts/icu/runs", {"since": "x"}, content_type="application/json"), 400)
    assert "since" in invalid["extra"]["fields"]
    run = runs.run_create(cohort=ehr["cohort"], since="full")
    runs.run_export(run.pk)
    cancelled = admin.post(f"{API}/runs/{run.pk}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert _error(admin.post(f"{API}/runs/{run.pk}/cancel"), 409)["extra"]["status"] == "cancelled"
    assert _error(admin.get(f"{API}/runs/{run.pk}/cancel"), 405)


def test_writes_need_the_csrf_token_and_the_schema_is_served(ehr: dict[str, Any]) -> None:
    admin = group_client("admin", csrf=True)
    refused = _error(admin.post(f"{API}/cohorts/icu/runs", {}, content_type="application/json"), 403)
    assert "CSRF" in refused["message"]
    assert not PopulationRun.objects.exists()
    schema = admin.get("/api/schema/")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {f"{API}/cohorts/{{slug}}/worklist", f"{API}/runs/{{run_id}}/cancel"} <= set(paths)
    assert _error(group_client(None).get("/api/schema/"), 403)
    assert admin.get("/api/schema/", {"format": "yaml"}).content.startswith(b"openapi: 3")
