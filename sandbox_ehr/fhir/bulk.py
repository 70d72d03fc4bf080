"""Bulk Data Access 2.0.0 on the sandbox FHIR server: kick-off, status, manifest, files and cancel.

Spec: HL7 FHIR Bulk Data Access IG 2.0.0 (https://hl7.org/fhir/uv/bulkdata/STU2/export.html). The export
itself runs as a Celery task (`sandbox_ehr.fhir.bulk_export`); this module validates requests, creates and
reads jobs. Parameters this server does not support (`_typeFilter`, `patient`, `_elements`,
`includeAssociatedData`) are refused with 400 rather than silently ignored (the spec's `handling=strict`).
"""

import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from config.errors import PermissionDenied, ValidationFailed
from sandbox_ehr.fhir.bulk_writer import export_dir, group_members
from sandbox_ehr.fhir.dates import date_range
from sandbox_ehr.fhir.errors import ResourceNotFound, UnsupportedSearch
from sandbox_ehr.fhir.models import BulkExportJob, FhirResource
from sandbox_ehr.fhir.permissions import Grant, scope_require
from sandbox_ehr.fhir.tasks import bulk_export
from sandbox_ehr.fhir.validation import resource_type_check

OUTPUT_FORMATS = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson"})
SUPPORTED_PARAMS = frozenset({"_outputFormat", "_type", "_since"})
# Patient-compartment types exported by Patient- and Group-level requests when `_type` is absent.
PATIENT_TYPES = (
    "Patient",
    "Encounter",
    "Observation",
    "Condition",
    "MedicationRequest",
    "Procedure",
    "AllergyIntolerance",
    "Immunization",
    "DiagnosticReport",
    "CarePlan",
)


@dataclass(frozen=True)
class KickOff:
    """A validated kick-off request."""

    level: str
    group_id: str
    types: tuple[str, ...]
    since: datetime | None


def export_request_parse(
    *, level: str, group_id: str, params: list[tuple[str, str]], prefer: str, accept: str
) -> KickOff:
    """Validate the kick-off's headers and parameters (400 naming the problem)."""
    if "respond-async" not in prefer:
        raise ValidationFailed("Bulk export needs the header 'Prefer: respond-async'.")
    if accept and accept not in ("application/fhir+json", "application/json", "*/*"):
        raise ValidationFailed("Bulk export answers in application/fhir+json; set Accept to it.")
    unsupported = sorted({name for name, _ in params if name not in SUPPORTED_PARAMS})
    if unsupported:
        raise UnsupportedSearch(
            f"This server does not support the $export parameter(s) {', '.join(unsupported)}.",
            extra={"parameters": unsupported},
        )
    values = dict(params)
    _output_format_check(values.get("_outputFormat", "application/fhir+ndjson"))
    return KickOff(level, group_id, _types(values.get("_type", ""), level), _since(values.get("_since")))


def _output_format_check(value: str) -> None:
    if value not in OUTPUT_FORMATS:
        raise UnsupportedSearch(f"_outputFormat '{value[:60]}' is not supported; use application/fhir+ndjson.")


def _types(value: str, level: str) -> tuple[str, ...]:
    types = tuple(dict.fromkeys(t.strip() for t in value.split(",") if t.strip()))
    for rtype in types:
        try:
            resource_type_check(rtype)
        except ResourceNotFound as exc:
            raise UnsupportedSearch(f"_type names '{rtype[:60]}', which is not a FHIR resource type.") from exc
    if types:
        return types
    if level != BulkExportJob.Level.SYSTEM:
        return PATIENT_TYPES
    stored = FhirResource.objects.live().values_list("resource_type", flat=True).distinct()
    return tuple(sorted(set(stored)))


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    if "T" not in value:
        raise ValidationFailed(f"_since '{value[:60]}' must be a FHIR instant (date, time and zone).")
    return date_range(value)[0]


def export_access_require(grant: Grant | None, types: tuple[str, ...]) -> None:
    """System-level read scopes (SMART Backend Services) for every exported type; 403 otherwise."""
    if grant is not None and grant.patient_id:
        raise PermissionDenied(
            "Bulk export needs a system-level token (SMART Backend Services), not a patient-level one."
        )
    for rtype in types:
        scope_require(grant, rtype, "read")


def export_job_create(*, kick_off: KickOff, client_id: str, request_url: str) -> BulkExportJob:
    """Record the job and queue the export after commit; the job's id names its status URL."""
    if kick_off.level == BulkExportJob.Level.GROUP:
        group_members(kick_off.group_id)  # 404 now rather than a failed job later
    job = BulkExportJob.objects.create(
        id=uuid.uuid4(),
        client_id=client_id,
        level=kick_off.level,
        group_id=kick_off.group_id,
        types=list(kick_off.types),
        since=kick_off.since,
        request_url=request_url,
        transaction_time=timezone.now(),
    )
    transaction.on_commit(lambda: bulk_export.delay(str(job.id)))
    return job


def export_job_get(job_id: str, grant: Grant | None) -> BulkExportJob:
    """The job, visible only to the client that started it (404 otherwise, and once cancelled)."""
    try:
        job = BulkExportJob.objects.get(id=uuid.UUID(job_id))
    except (ValueError, BulkExportJob.DoesNotExist):
        raise ResourceNotFound("No such export job (it may have been cancelled or deleted).") from None
    if job.status == BulkExportJob.Status.CANCELLED or (grant is not None and grant.client_id != job.client_id):
        raise ResourceNotFound("No such export job (it may have been cancelled or deleted).")
    return job


def export_job_cancel(job: BulkExportJob) -> None:
    """DELETE on the status URL: stop the export (the task checks between types) and delete its files."""
    job.status = BulkExportJob.Status.CANCELLED
    job.finished_at = job.finished_at or timezone.now()
    job.save(update_fields=["status", "finished_at"])
    shutil.rmtree(export_dir(str(job.id)), ignore_errors=True)


def export_manifest(job: BulkExportJob, *, files_base: str) -> dict[str, Any]:
    """The completion manifest (spec "Response - Complete Status")."""

    def entry(item: dict[str, Any]) -> dict[str, Any]:
        out = {"type": item["type"], "url": f"{files_base}/{job.id}/{item['file']}"}
        return {**out, "count": item["count"]} if "count" in item else out

    return {
        "transactionTime": job.transaction_time.isoformat().replace("+00:00", "Z"),
        "request": job.request_url,
        "requiresAccessToken": True,
        "output": [entry(i) for i in job.output if not i.get("deleted")],
        "deleted": [entry(i) for i in job.output if i.get("deleted")],
        "error": [entry(i) for i in job.error],
    }


def export_file_path(job: BulkExportJob, name: str) -> Path:
    """The path of one of the job's files; 404 for a name the manifest does not list or a missing file."""
    listed = {i["file"] for i in [*job.output, *job.error]}
    path = export_dir(str(job.id)) / name
    if job.status != BulkExportJob.Status.COMPLETED or name not in listed or not path.is_file():
        raise ResourceNotFound(f"No export file '{name[:80]}'.")
    return path
