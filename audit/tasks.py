"""Celery tasks of the audit trail: the periodic signed checkpoint of the chain's head (CELERY_BEAT_SCHEDULE)."""

from typing import Any

from celery import shared_task

from audit.checkpoints import audit_checkpoint_create


@shared_task(name="stratify.audit_checkpoint", ignore_result=True)
def audit_checkpoint() -> dict[str, Any] | None:
    """Append a signed checkpoint of the chain's head to AUDIT_CHECKPOINT_FILE and the log."""
    return audit_checkpoint_create()
