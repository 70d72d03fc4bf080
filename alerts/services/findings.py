"""Monitor findings told through the notification channels (`alerts.channels`, the alerts' own interface).

Scoring announces each run that opens a finding (`scoring.monitoring.findings`); `finding_listen`, registered in
`AlertsConfig.ready`, queues a Celery task once the run is committed, so a monitor run never waits on a mail
server or a webhook. The task records the finding once (`FindingNotice`, unique per opening run) and creates one
`Notification` per channel that takes part, to the recipients the model's `MonitorPolicy` names (its
`notify_email_to`, and `notify_webhook` for ALERTS_WEBHOOK_URL); the messages are sent, retried and
dead-lettered as alerts' are (`alerts.services.notify`). A finding announced again (a redelivered task) is not
told twice, and one that stays open is not announced again.
"""

from django.db import transaction

from alerts.channels import channels
from alerts.models import FindingNotice, Notification
from scoring.monitoring.findings import Finding, finding_get
from scoring.monitoring.policy import monitor_policy_get


def finding_listen(finding: Finding) -> None:
    """Scoring's listener: queue the finding's messages once the run that opened it is committed."""
    from alerts.tasks import finding_notify  # the task module imports these services

    transaction.on_commit(lambda: finding_notify.delay(finding.monitor, finding.run_id), robust=True)


def _notice(finding: Finding) -> tuple[FindingNotice, bool]:
    return FindingNotice.objects.get_or_create(
        monitor=finding.monitor,
        run_id=finding.run_id,
        defaults={
            "model_name": finding.model_name,
            "model_version": finding.model_version,
            "opened_at": finding.opened_at,
            "window_start": finding.window_start,
            "window_end": finding.window_end,
            "what": list(finding.what),
        },
    )


def finding_notices_create(monitor: str, run_id: int) -> list[int]:
    """Record the finding and queue one message per channel that takes part; their ids (none when the finding
    was recorded before: it is told once)."""
    from alerts.tasks import notification_send

    with transaction.atomic():
        notice, created = _notice(finding_get(monitor, run_id))
        if not created:
            return []
        policy = monitor_policy_get(notice.model_name)
        ids = [
            Notification.objects.create(
                finding=notice, channel=c.name, purpose=Notification.Purpose.FINDING, recipients=who[:1000]
            ).pk
            for c in channels()
            if (who := c.finding_recipients(notice, policy)) is not None
        ]
        transaction.on_commit(lambda: [notification_send.delay(pk) for pk in ids], robust=True)
    return ids
