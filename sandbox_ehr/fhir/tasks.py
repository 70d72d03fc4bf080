"""Celery tasks of the sandbox FHIR server: the Bulk Data export job."""

from typing import Any

from celery import shared_task

from sandbox_ehr.fhir import bulk_writer


@shared_task(name="sandbox_ehr.fhir.bulk_export", bind=True, max_retries=0)
def bulk_export(self: Any, job_id: str) -> str:
    """Write one export job's NDJSON files; a failure marks the job failed with its reason."""
    try:
        job = bulk_writer.export_run(job_id)
    except Exception as exc:
        bulk_writer.export_fail(job_id, f"The export failed: {type(exc).__name__}.")
        raise
    return job.status if job is not None else "cancelled"
