"""Thin views of the sandbox's Bulk Data export (kick-off, status, cancel, files); services in `bulk`.

HL7 FHIR Bulk Data Access 2.0.0: https://hl7.org/fhir/uv/bulkdata/STU2/export.html. Every view goes through
the FHIR server's `fhir_endpoint` (bearer token, faults, OperationOutcome errors, logging).
"""

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase
from django.urls import reverse

from sandbox_ehr.fhir import bulk
from sandbox_ehr.fhir.models import BulkExportJob
from sandbox_ehr.fhir.outcomes import fhir_json, operation_outcome
from sandbox_ehr.fhir.permissions import Grant
from sandbox_ehr.fhir.views import base_url, fhir_endpoint

NDJSON = "application/fhir+ndjson"


def _kick_off(request: HttpRequest, grant: Grant | None, level: str, group_id: str = "") -> HttpResponse:
    params = [(k, v) for k, values in request.GET.lists() for v in values]
    kick_off = bulk.export_request_parse(
        level=level,
        group_id=group_id,
        params=params,
        prefer=request.headers.get("Prefer", ""),
        accept=request.headers.get("Accept", ""),
    )
    bulk.export_access_require(grant, kick_off.types)
    job = bulk.export_job_create(
        kick_off=kick_off, client_id=getattr(grant, "client_id", ""), request_url=request.build_absolute_uri()
    )
    status_url = request.build_absolute_uri(reverse("sandbox_fhir:export_status", args=[job.id]))
    return fhir_json(
        operation_outcome("Export accepted.", code="informational", severity="information"),
        status=202,
        headers={"Content-Location": status_url},
    )


@fhir_endpoint("GET")
def system_export(request: HttpRequest, grant: Grant | None) -> HttpResponse:
    """GET [base]/$export: every resource of the requested types."""
    return _kick_off(request, grant, BulkExportJob.Level.SYSTEM)


@fhir_endpoint("GET")
def patient_export(request: HttpRequest, grant: Grant | None) -> HttpResponse:
    """GET [base]/Patient/$export: every patient's compartment."""
    return _kick_off(request, grant, BulkExportJob.Level.PATIENT)


@fhir_endpoint("GET")
def group_export(request: HttpRequest, grant: Grant | None, group_id: str) -> HttpResponse:
    """GET [base]/Group/[id]/$export: the compartments of the Group's member patients."""
    return _kick_off(request, grant, BulkExportJob.Level.GROUP, group_id)


@fhir_endpoint("GET", "DELETE")
def export_status(request: HttpRequest, grant: Grant | None, job_id: str) -> HttpResponse:
    """GET: 202 + X-Progress/Retry-After while running, the manifest when done; DELETE: cancel (202)."""
    job = bulk.export_job_get(job_id, grant)
    if request.method == "DELETE":
        bulk.export_job_cancel(job)
        return fhir_json(
            operation_outcome("Export cancelled.", code="informational", severity="information"), status=202
        )
    if job.status == BulkExportJob.Status.FAILED:
        return fhir_json(
            operation_outcome(job.message or "The export failed.", code="exception", severity="fatal"), status=500
        )
    if job.status != BulkExportJob.Status.COMPLETED:
        return HttpResponse(
            status=202,
            headers={"X-Progress": job.progress or "queued", "Retry-After": str(settings.SANDBOX_BULK_RETRY_AFTER)},
        )
    files_base = f"{base_url(request)}/$export-files"
    return fhir_json(bulk.export_manifest(job, files_base=files_base), headers={"Content-Type": "application/json"})


@fhir_endpoint("GET")
def export_file(request: HttpRequest, grant: Grant | None, job_id: str, name: str) -> HttpResponseBase:
    """GET one NDJSON file of a completed export (streamed; requiresAccessToken is true)."""
    path = bulk.export_file_path(bulk.export_job_get(job_id, grant), name)
    return FileResponse(path.open("rb"), content_type=NDJSON)
