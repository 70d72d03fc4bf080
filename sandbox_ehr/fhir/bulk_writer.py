"""Writes one Bulk Data export job's NDJSON files: one file per resource type, streamed from the store.

Run by the Celery task `sandbox_ehr.fhir.bulk_export` (eager in the demo). Resources are those current
at the job's transactionTime (last updated at or before it), changed after `_since` when given, in the
Group's or every patient's compartment for Group- and Patient-level requests. With `_since`, the resources
deleted since are listed too (the manifest's `deleted`: transaction Bundles of DELETE entries). The job is
re-read between types, so a DELETE on the status URL stops it.
"""

import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from sandbox_ehr.fhir.errors import ResourceNotFound
from sandbox_ehr.fhir.models import BulkExportJob, FhirResource

_BATCH = 2000
DELETED_FILE = "deleted.ndjson"


def export_dir(job_id: str) -> Path:
    """The folder of one job's NDJSON files."""
    return Path(settings.SANDBOX_BULK_DIR) / str(uuid.UUID(job_id))


def group_members(group_id: str) -> list[str]:
    """The Patient ids of a Group's members (404 when there is no such Group)."""
    row = FhirResource.objects.live().filter(resource_type="Group", resource_id=group_id).first()
    if row is None:
        raise ResourceNotFound(f"No Group with id '{group_id[:64]}'.")
    members = orjson.loads(row.content).get("member") or []
    refs = [str((m.get("entity") or {}).get("reference", "")) for m in members if isinstance(m, dict)]
    return [ref.split("/", 1)[1] for ref in refs if ref.startswith("Patient/")]


def export_run(job_id: str) -> BulkExportJob | None:
    """Write the job's files and complete it; None when it was cancelled (or is already done)."""
    job = BulkExportJob.objects.filter(id=job_id).first()
    if job is None or job.status not in (BulkExportJob.Status.ACCEPTED, BulkExportJob.Status.RUNNING):
        return None
    _status(job, BulkExportJob.Status.RUNNING, "0%")
    folder = export_dir(job_id)
    folder.mkdir(parents=True, exist_ok=True)
    patients = None if job.level == BulkExportJob.Level.SYSTEM else _patients(job)
    output = []
    for done, rtype in enumerate(job.types, start=1):
        if _cancelled(job):
            return None
        count = _write(folder / f"{rtype}.ndjson", _rows(job, rtype, patients))
        if count:
            output.append({"type": rtype, "count": count, "file": f"{rtype}.ndjson"})
        _status(job, BulkExportJob.Status.RUNNING, f"{round(100 * done / len(job.types))}%")
    if job.since is not None:  # what was deleted since: the manifest's `deleted` (Bundles of DELETE entries)
        count = _write(folder / DELETED_FILE, _deleted(job, patients))
        if count:
            output.append({"type": "Bundle", "count": count, "file": DELETED_FILE, "deleted": True})
    if _cancelled(job):
        return None
    job.output, job.status, job.finished_at = output, BulkExportJob.Status.COMPLETED, timezone.now()
    job.save(update_fields=["output", "status", "finished_at"])
    return job


def export_fail(job_id: str, message: str) -> None:
    """Mark a job failed (the status URL then answers 500 with an OperationOutcome)."""
    BulkExportJob.objects.filter(id=job_id).exclude(status=BulkExportJob.Status.CANCELLED).update(
        status=BulkExportJob.Status.FAILED, message=message[:2000], finished_at=timezone.now()
    )


def _status(job: BulkExportJob, status: str, progress: str) -> None:
    job.status, job.progress = status, progress
    BulkExportJob.objects.filter(id=job.id).exclude(status=BulkExportJob.Status.CANCELLED).update(
        status=status, progress=progress
    )


def _cancelled(job: BulkExportJob) -> bool:
    status = BulkExportJob.objects.filter(id=job.id).values_list("status", flat=True).first()
    return status in (None, BulkExportJob.Status.CANCELLED)


def _patients(job: BulkExportJob) -> list[str] | None:
    """The compartment patients of a Group-level job; None (every patient) for a Patient-level one."""
    return group_members(job.group_id) if job.level == BulkExportJob.Level.GROUP else None


def _rows(job: BulkExportJob, rtype: str, patients: list[str] | None) -> QuerySet[FhirResource, str]:
    rows = FhirResource.objects.live().filter(resource_type=rtype, last_updated__lte=job.transaction_time)
    if job.since is not None:
        rows = rows.filter(last_updated__gt=job.since)
    if job.level != BulkExportJob.Level.SYSTEM:
        rows = rows.exclude(patient_id="")
    if patients is not None:
        rows = rows.filter(patient_id__in=patients)
    return rows.order_by("patient_id", "pk").values_list("content", flat=True)


def _deleted(job: BulkExportJob, patients: list[str] | None) -> Iterator[str]:
    """One transaction Bundle with a DELETE entry per resource of the job's types deleted after `_since`."""
    rows = FhirResource.objects.filter(
        deleted=True, resource_type__in=job.types, last_updated__gt=job.since, last_updated__lte=job.transaction_time
    )
    if job.level != BulkExportJob.Level.SYSTEM:
        rows = rows.exclude(patient_id="")
    if patients is not None:
        rows = rows.filter(patient_id__in=patients)
    for rtype, rid in rows.order_by("pk").values_list("resource_type", "resource_id").iterator(chunk_size=_BATCH):
        entry = {"request": {"method": "DELETE", "url": f"{rtype}/{rid}"}}
        yield orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": [entry]}).decode()


def _write(path: Path, contents: Iterable[str]) -> int:
    """Stream rows into `path` (one JSON resource per line); the file is removed when nothing matched."""
    count = 0
    rows = contents.iterator(chunk_size=_BATCH) if isinstance(contents, QuerySet) else contents
    with path.open("w", encoding="utf-8") as out:
        for content in rows:
            out.write(content)
            out.write("\n")
            count += 1
    if not count:
        path.unlink()
    return count
