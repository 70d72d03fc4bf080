"""Celery tasks of alerts: send one notification (retried with backoff, dead-lettered when tries run out), queue
a monitor finding's notifications, and the minute sweep (escalation, expiry, snooze ends).

Eager mode (demo, tests) runs the same path: CELERY_TASK_EAGER_PROPAGATES is off, so an eager retry re-runs
the task at once and a final failure calls `on_failure`, as a worker would (without the countdown).
"""

from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from alerts.channels import ChannelUnavailable
from alerts.services.findings import finding_notices_create
from alerts.services.flag import flag_write as flag_write_service
from alerts.services.notify import notification_dead, notification_deliver
from alerts.services.sweep import alerts_sweep
from config.errors import UpstreamUnavailable


class NotifyTask(Task):  # type: ignore[misc]  # Celery ships no type hints: Task is Any
    """Retry policy of a notification (ALERTS_NOTIFY_* settings) and its dead-letter handler."""

    autoretry_for = (ChannelUnavailable, OperationalError, InterfaceError)
    retry_backoff = settings.ALERTS_NOTIFY_RETRY_BASE_SECONDS  # countdown = BASE * 2**retries ...
    retry_backoff_max = settings.ALERTS_NOTIFY_RETRY_MAX_SECONDS  # ... capped here ...
    retry_jitter = True  # ... then drawn from [0, countdown]
    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True

    @property
    def max_retries(self) -> int:
        """Retries after the first try (read at each retry, so a settings change applies at once)."""
        return max(0, int(settings.ALERTS_NOTIFY_MAX_TRIES) - 1)

    def on_failure(
        self, exc: BaseException, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any], einfo: Any
    ) -> None:
        """Tries ran out, or the error was not one that passes: the message is dead-lettered."""
        notification_id = kwargs.get("notification_id", args[0] if args else None)
        if notification_id is not None:
            notification_dead(int(notification_id), error=f"{type(exc).__name__}: {exc}")


@shared_task(bind=True, base=NotifyTask, name="alerts.notification_send")  # type: ignore[untyped-decorator]
def notification_send(self: NotifyTask, notification_id: int) -> str:
    """One try of one notification."""
    return notification_deliver(notification_id)


@shared_task(  # type: ignore[untyped-decorator]
    name="alerts.finding_notify",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=settings.ALERTS_NOTIFY_RETRY_BASE_SECONDS,
    retry_backoff_max=settings.ALERTS_NOTIFY_RETRY_MAX_SECONDS,
    retry_jitter=True,
    max_retries=settings.ALERTS_NOTIFY_MAX_TRIES,
    acks_late=True,
    ignore_result=True,
)
def finding_notify(monitor: str, run_id: int) -> list[int]:
    """A monitor opened a finding: record it once and queue its messages (alerts.services.findings)."""
    return finding_notices_create(monitor, run_id)


@shared_task(name="alerts.sweep", ignore_result=True)  # type: ignore[untyped-decorator]
def alerts_sweep_task() -> dict[str, int]:
    """Every minute (CELERY_BEAT_SCHEDULE): wake snoozes, escalate and expire unacknowledged alerts."""
    return alerts_sweep()


@shared_task(  # type: ignore[untyped-decorator]
    name="alerts.flag_write",
    autoretry_for=(UpstreamUnavailable, OperationalError, InterfaceError),
    retry_backoff=settings.WRITEBACK_RETRY_BASE_SECONDS,
    retry_backoff_max=int(settings.WRITEBACK_RETRY_MAX_SECONDS),
    retry_jitter=True,
    max_retries=settings.WRITEBACK_MAX_RETRIES,
    acks_late=True,
    ignore_result=True,
)
def flag_write(alert_id: int) -> str:
    """Write or update the alert's Flag in the EHR (the write-back's retry policy)."""
    return flag_write_service(alert_id)
