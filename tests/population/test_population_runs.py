"""Population runs end to end: the sandbox EHR's Bulk Data export over real HTTP, SMART Backend Services
tokens, NDJSON downloads, grouping, chunked scoring through the one pipeline, results, audit.

Celery runs eagerly here (tasks in this process, HTTP to the live server); test_population_worker.py runs
the same flow on a real worker over Redis.
"""

import time
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from audit.models import AuditRecord
from cds_hooks.selectors import cds_services
from cds_hooks.services.calls import call_parse, cds_service_score
from cds_hooks.trust import CdsCaller
from fhirapp.bulk import BulkClient, Manifest
from fhirapp.client import FhirClient
from population.models import PatientResult, PopulationRun, RunFile
from population.services import runs
from population.services.scoring import chunk_score
from sandbox_ehr.auth.models import IssuedToken
from sandbox_ehr.auth.services import access_token_issue
from sandbox_ehr.ehr.cds import hook_context, prefetch_build
from sandbox_ehr.fhir.models import BulkExportJob, FhirResource
from sandbox_ehr.fhir.services import resource_create, resource_delete
from smart_launch.backend import backend_access_token
from tests.population.conftest import MODELS

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _results(run: PopulationRun) -> dict[tuple[str, str], PatientResult]:
    return {(r.patient_id, r.model_name): r for r in PatientResult.objects.filter(run=run)}


def test_full_run_scores_every_member_as_the_cds_door_does(ehr: dict[str, Any]) -> None:
    run = runs.run_start(cohort=ehr["cohort"], since="full")
    run.refresh_from_db()
    assert run.status == "completed", run.error
    members = set(FhirResource.objects.filter(resource_type="Patient").values_list("resource_id", flat=True))
    assert run.patients_total == run.patients_scored == len(members) == 4
    assert run.chunks_total == 2 and not run.incremental
    results = _results(run)
    assert set(results) == {(p, m) for p in members for m in MODELS}
    assert AuditRecord.objects.filter(action="score", detail__population_run=run.pk).count() >= len(results)
    assert AuditRecord.objects.filter(action="population_run", detail__run=run.pk, outcome="success").count() == 1
    # The same patient at the same time: the CDS door gives the same value, band, drivers and inputs digest.
    scored = next(r for r in results.values() if r.scored and r.model_name == "sepsis")
    cds = _cds_door(ehr, scored.patient_id, run.transaction_time)
    for model in MODELS:
        ours, theirs = results[(scored.patient_id, model)], cds[model]
        assert (ours.scored, ours.band, ours.input_digest) == (theirs.scored, theirs.band or "", theirs.input_digest)
        assert ours.drivers == [
            {
                "feature": d.feature,
                "label": d.label,
                "value_text": d.value_text,
                "text": d.text,
                "contribution": d.contribution,
                "direction": d.direction,
                "context": d.context,
            }
            for d in theirs.drivers
        ]
    assert scored.top_driver and scored.unit


def _cds_door(ehr: dict[str, Any], patient_id: str, as_of: Any) -> dict[str, Any]:
    context = hook_context(patient_id=patient_id, encounter_id=None)
    reader = access_token_issue(client_id="stratify-cds", scope="patient/*.rs", patient_id=patient_id)
    caller = CdsCaller(
        iss="https://ehr.example.org", sub="golden", jti="golden", tenant="", client_id=0, fhir_servers=(ehr["iss"],)
    )
    out = {}
    for service in (s for s in cds_services().values() if s.hook == "patient-view" and s.model_name in MODELS):
        body = {
            "hook": "patient-view",
            "hookInstance": f"pop-{service.id}",
            "fhirServer": ehr["iss"],
            "fhirAuthorization": {
                "access_token": reader,
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "patient/*.rs",
                "subject": "stratify-cds",
            },
            "context": context,
            "prefetch": prefetch_build(service.prefetch, context, FhirClient(ehr["iss"], reader)),
        }
        _data, scored = cds_service_score(
            service, call_parse(service, body, caller), started=time.monotonic(), as_of=as_of
        )
        out.update({r.model_name: r for r in scored if r.model_status != "shadow"})
    return out


def test_incremental_run_exports_only_changes_and_reports_change(ehr: dict[str, Any]) -> None:
    first = runs.run_start(cohort=ehr["cohort"], since="full")
    first.refresh_from_db()
    patient = PatientResult.objects.filter(run=first, model_name="news2", scored=True).first()
    assert patient is not None
    resource_create(
        resource_type="Observation",
        grant=None,
        resource={
            "resourceType": "Observation",
            "status": "final",
            "category": [
                {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}
                    ]
                }
            ],
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
            "subject": {"reference": f"Patient/{patient.patient_id}"},
            "effectiveDateTime": timezone.now().isoformat(),
            "valueQuantity": {"value": 160, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
        },
    )
    second = runs.run_start(cohort=ehr["cohort"], since="auto")
    second.refresh_from_db()
    assert second.status == "completed", second.error
    assert second.incremental and second.since == first.transaction_time and second.previous_id == first.pk
    job = BulkExportJob.objects.order_by("-created_at").first()
    assert job is not None and job.since == first.transaction_time
    assert [(o["type"], o["count"]) for o in job.output] == [("Observation", 1)]
    assert second.patients_scored == 4  # everyone rescored from the merged data
    after = PatientResult.objects.get(run=second, patient_id=patient.patient_id, model_name="news2")
    assert after.rank_value is not None and patient.rank_value is not None
    assert after.delta is not None and after.delta == pytest.approx(after.rank_value - patient.rank_value)
    assert after.delta > 0
    assert after.changed


def test_failed_file_is_named_and_resume_fetches_only_it(ehr: dict[str, Any], settings: Any) -> None:
    run = runs.run_create(cohort=ehr["cohort"], since="full")
    assert isinstance(runs.run_export(run.pk), Manifest)
    job = BulkExportJob.objects.get()
    lost = Path(settings.SANDBOX_BULK_DIR) / str(job.id) / "Observation.ndjson"
    kept = lost.read_bytes()
    lost.unlink()
    assert runs.run_fetch(run.pk) is False
    run.refresh_from_db()
    assert run.status == "failed"
    assert [(f["resource_type"], "HTTP 404" in f["error"]) for f in run.error["files"]] == [("Observation", True)]
    done = {f.resource_type: f for f in RunFile.objects.filter(run=run, status="done")}
    assert set(done) == {"Patient", "Encounter"}
    mtimes = {p.name: p.stat().st_mtime_ns for p in Path(settings.POPULATION_DIR).rglob("*-*.ndjson")}
    lost.write_bytes(kept)
    runs.run_resume(run)  # eager: export check, then only the missing file, then scoring
    run.refresh_from_db()
    assert run.status == "completed", run.error
    assert {
        p.name: p.stat().st_mtime_ns for p in Path(settings.POPULATION_DIR).rglob("*-*.ndjson") if p.name in mtimes
    } == mtimes


def test_cancel_cancels_the_export_at_the_ehr(ehr: dict[str, Any]) -> None:
    run = runs.run_create(cohort=ehr["cohort"], since="full")
    runs.run_export(run.pk)
    runs.run_cancel(run)
    assert BulkExportJob.objects.get().status == "cancelled"
    assert runs.run_fetch(run.pk) is False
    run.refresh_from_db()
    assert run.status == "cancelled" and not PatientResult.objects.filter(run=run).exists()
    assert AuditRecord.objects.filter(action="population_run", detail__run=run.pk, outcome="denied").exists()


def test_expired_token_mid_download_gets_a_fresh_one(ehr: dict[str, Any], tmp_path: Path) -> None:
    scope = "system/Patient.read system/Observation.read"
    issued: list[str] = []

    def token(fresh: bool) -> str:
        issued.append(backend_access_token(iss=ehr["iss"], scope=scope, fresh=fresh))
        return issued[-1]

    client = BulkClient(ehr["iss"], token, sleep=lambda _s: None)
    manifest = client.poll(client.kick_off("Group/icu/$export", {"_type": "Patient,Observation"}))
    first, second = manifest.output
    assert client.download(first.url, tmp_path / "a.ndjson", requires_token=True) > 0
    IssuedToken.objects.update(expires_at=timezone.now())  # the token expires between two files
    assert client.download(second.url, tmp_path / "b.ndjson", requires_token=True) > 0
    assert len(set(issued)) == 2
    assert sum(1 for _ in (tmp_path / "b.ndjson").open()) == second.count


def test_a_chunk_is_scored_once(ehr: dict[str, Any]) -> None:
    run = runs.run_start(cohort=ehr["cohort"], since="full")
    before = (PatientResult.objects.filter(run=run).count(), AuditRecord.objects.count())
    assert chunk_score(run_id=run.pk, number=0) == 0  # a redelivered task finds its chunk done
    assert (PatientResult.objects.filter(run=run).count(), AuditRecord.objects.count()) == before


def test_incremental_run_drops_what_the_export_lists_as_deleted(ehr: dict[str, Any], settings: Any) -> None:
    first = runs.run_start(cohort=ehr["cohort"], since="full")
    first.refresh_from_db()
    gone, kept = sorted(PatientResult.objects.filter(run=first).values_list("patient_id", flat=True).distinct())[:2]
    observation = FhirResource.objects.filter(resource_type="Observation", patient_id=kept).first()
    assert observation is not None
    resource_delete(resource_type="Patient", resource_id=gone, grant=None)
    resource_delete(resource_type="Observation", resource_id=observation.resource_id, grant=None)
    second = runs.run_start(cohort=ehr["cohort"], since="auto")
    second.refresh_from_db()
    assert second.status == "completed" and second.incremental, second.error
    job = BulkExportJob.objects.order_by("-created_at").first()
    assert job is not None and [(o["type"], o["count"], o.get("deleted")) for o in job.output] == [("Bundle", 2, True)]
    assert RunFile.objects.get(run=second, is_deleted_file=True).status == "done"
    assert second.patients_total == 3
    assert not PatientResult.objects.filter(run=second, patient_id=gone).exists()
    store = Path(settings.POPULATION_DIR) / "icu" / "store"
    assert f'"id":"{observation.resource_id}"' not in (store / "Observation.ndjson").read_text()
    assert f'"id":"{gone}"' not in (store / "Patient.ndjson").read_text()


def test_backend_tokens_are_short_lived_and_a_run_outlives_one(ehr: dict[str, Any]) -> None:
    run = runs.run_create(cohort=ehr["cohort"], since="full")
    assert isinstance(runs.run_export(run.pk), Manifest)
    backend = IssuedToken.objects.filter(client_id="stratify-backend")
    token = backend.get()
    lifetime = (token.expires_at - token.created_at).total_seconds()
    assert 295 <= lifetime <= 305  # SMART Backend Services: no longer than 5 minutes
    backend.update(expires_at=timezone.now())  # it expires at the EHR before the downloads
    assert runs.run_fetch(run.pk)
    run.refresh_from_db()
    assert run.status == "completed", run.error
    assert backend.count() == 2  # the 401 got a fresh one and the downloads went on
