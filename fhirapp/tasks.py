"""Celery tasks of fhirapp: deliver a write-back, retried by Celery itself with exponential backoff and jitter.

Transient failures retry (Celery `autoretry_for`, `retry_backoff`, `retry_jitter`): the EHR's FHIR
server or its SMART discovery/token endpoint answering 5xx, 408 or 429, timing out or unreachable
(all `UpstreamUnavailable`), and our own database dropping its connection. A definite 4xx about the
resource marks the write-back failed inside `write_back_deliver`; retries running out, or any other
error, reach `on_failure`, which marks it failed.

Eager mode (the embedded default: no broker) has no countdown, so an EHR failure is not retried by Celery there:
the row stays pending, due after the same exponential backoff (with equal jitter), and the in-process pool
delivers it again then (`write_back_dispatch_later`); the attempts are counted on the row, and past
WRITEBACK_MAX_RETRIES it is marked failed. A process that exits meanwhile leaves the row to the reconciler.
"""

import random
import time
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.db import close_old_connections

from config.errors import DATABASE_ERRORS, UpstreamUnavailable
from fhirapp.models import WriteBack
from fhirapp.services.writeback import (
    backoff_cap_seconds,
    error_of,
    write_back_deliver,
    write_back_fail,
    write_back_retry_at,
)
from fhirapp.services.writeback_delivery import write_back_dispatch_later
from fhirapp.services.writeback_reconcile import write_back_reconcile

TRANSIENT_ERRORS: tuple[type[Exception], ...] = (UpstreamUnavailable, *DATABASE_ERRORS)
# Eager mode (the embedded default's background threads) retries at once; after our database dropped the
# connection it waits 0.5, 1, 2, 4, 5, 5 s first, so that a blip of up to ~17 s does not use up the retries.
EAGER_DATABASE_RETRY_SLEEP_MAX = 5.0


class WriteBackTask(Task):  # type: ignore[misc]  # Celery ships no type hints: Task is Any
    """The write-back's retry policy (from WRITEBACK_* settings) and its failure handler."""

    autoretry_for = TRANSIENT_ERRORS
    retry_backoff = settings.WRITEBACK_RETRY_BASE_SECONDS  # countdown = BASE * 2**retries ...
    retry_backoff_max = int(settings.WRITEBACK_RETRY_MAX_SECONDS)  # ... capped here ...
    retry_jitter = True  # ... then drawn uniformly from [0, countdown] ("full jitter")
    acks_late = True  # a worker killed mid-attempt leaves the message to the broker (and the row to the reconciler)
    reject_on_worker_lost = True
    ignore_result = True  # nobody reads a write-back's result: the row is the record
    time_limit = settings.WRITEBACK_TASK_TIME_LIMIT_SECONDS

    @property
    def max_retries(self) -> int:
        """Read at each retry, so a settings change applies without re-creating the task."""
        return int(settings.WRITEBACK_MAX_RETRIES)

    def on_failure(
        self, exc: BaseException, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any], einfo: Any
    ) -> None:
        """Retries ran out, or the error is not transient: a still-pending write-back is marked failed."""
        write_back_id = kwargs.get("write_back_id", args[0] if args else None)
        if write_back_id is None:
            return
        write_back = WriteBack.objects.filter(pk=int(write_back_id), status=WriteBack.Status.PENDING).first()
        if write_back is not None:
            write_back_fail(write_back, error_of(exc))


@shared_task(bind=True, base=WriteBackTask, name="fhirapp.write_back_send")  # type: ignore[untyped-decorator]  # Celery is untyped
def write_back_send(self: WriteBackTask, write_back_id: int) -> str:
    """Send one write-back (one attempt); the retry policy and the failure handling are WriteBackTask's.

    When our database dropped the connection, it is closed before the retry, which connects anew: a worker
    thread (or an eager retry) otherwise keeps the dead connection, and every retry fails on it at once.
    """
    try:
        return str(write_back_deliver(write_back_id=write_back_id, attempt_owner=str(self.request.id or "")).status)
    except UpstreamUnavailable:
        if not self.request.is_eager:
            raise  # Celery's autoretry, with its countdown
        return eager_retry_later(write_back_id)
    except DATABASE_ERRORS:
        close_old_connections()
        if self.request.is_eager:  # an eager retry has no countdown: give the database a moment (daemon thread)
            time.sleep(min(EAGER_DATABASE_RETRY_SLEEP_MAX, 0.5 * 2 ** int(self.request.retries or 0)))
        raise


def eager_backoff_seconds(attempts: int) -> float:
    """The wait after attempt number `attempts`: min(BASE * 2**(attempts-1), MAX), half of it fixed, half jitter."""
    cap = backoff_cap_seconds(attempts, settings.WRITEBACK_RETRY_BASE_SECONDS)
    return cap / 2 + random.uniform(0, cap / 2)


def eager_retry_later(write_back_id: int) -> str:
    """Eager mode after a transient EHR failure: deliver again after the backoff, or mark failed past the retries."""
    write_back = WriteBack.objects.get(pk=write_back_id)
    if write_back.status != WriteBack.Status.PENDING:
        return str(write_back.status)
    if write_back.attempts > int(settings.WRITEBACK_MAX_RETRIES):
        return str(write_back_fail(write_back, write_back.last_error).status)
    delay = eager_backoff_seconds(write_back.attempts)
    write_back_retry_at(write_back, delay)
    write_back_dispatch_later(write_back_id, delay)
    return str(write_back.status)


@shared_task(name="fhirapp.write_back_reconcile", ignore_result=True)  # type: ignore[untyped-decorator]  # Celery is untyped
def write_back_reconcile_task() -> int:
    """Every minute (CELERY_BEAT_SCHEDULE): queue again the pending write-backs that were lost."""
    return write_back_reconcile()
