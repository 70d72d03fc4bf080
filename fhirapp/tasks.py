"""Celery tasks of fhirapp: deliver a write-back, retrying timeouts and 5xx with exponential backoff."""
import logging
import random
from typing import Any

from celery import Task, shared_task
from django.conf import settings

from fhirapp.models import WriteBack
from fhirapp.services.writeback import error_of, write_back_deliver, write_back_fail

logger = logging.getLogger(__name__)


def retry_countdown(retries: int) -> float:
    """Exponential backoff with full jitter: uniform(0.5, 1) * min(BASE * 2**retries, MAX) seconds."""
    ceiling = min(settings.WRITEBACK_RETRY_BASE_SECONDS * (2 ** retries), settings.WRITEBACK_RETRY_MAX_SECONDS)
    return ceiling * random.uniform(0.5, 1.0)


class WriteBackTask(Task):  # type: ignore[misc]
    """Safety net: marks a still-pending write-back failed when the task fails in a worker.

    The task marks it itself when it gives up, because eager mode (propagating) never calls on_failure.
    """

    def on_failure(self, exc: BaseException, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                   einfo: Any) -> None:
        write_back_id = kwargs.get("write_back_id", args[0] if args else None)
        if write_back_id is None:
            return
        write_back = WriteBack.objects.filter(pk=int(write_back_id)).first()
        if write_back is not None and write_back.status == WriteBack.Status.PENDING:
            write_back_fail(write_back, error_of(exc))


@shared_task(bind=True, base=WriteBackTask, acks_late=True, reject_on_worker_lost=True,
             max_retries=None, name="fhirapp.write_back_send")
def write_back_send(self: WriteBackTask, write_back_id: int) -> Any:
    """Send one write-back; 4xx marks it failed at once, timeouts and 5xx retry up to WRITEBACK_MAX_RETRIES."""
    try:
        return str(write_back_deliver(write_back_id=write_back_id).status)
    except Exception as exc:
        if not getattr(exc, "retryable", False) or self.request.retries >= settings.WRITEBACK_MAX_RETRIES:
            write_back = WriteBack.objects.filter(pk=write_back_id, status=WriteBack.Status.PENDING).first()
            if write_back is not None:
                write_back_fail(write_back, error_of(exc))
            raise
        countdown = retry_countdown(self.request.retries)
        logger.info("write-back %s: retry %s in %.1f s (%s)", write_back_id, self.request.retries + 1,
                    countdown, type(exc).__name__)
        if self.request.is_eager:  # eager (demo, tests): apply() re-runs a *returned* Retry at once
            return self.retry(exc=exc, countdown=countdown, throw=False)
        raise self.retry(exc=exc, countdown=countdown) from exc
