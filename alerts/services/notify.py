"""Notifications of an alert (or of a monitor finding, `alerts.services.findings`): one row per channel and
message, sent by a Celery task with retries, and dead-lettered when the tries run out or the channel refuses.
The first message a channel takes marks the alert delivered. Each outcome is audited: an alert's as "alert",
a finding's under its monitor's action ("drift_check" or "performance_check")."""

from django.db import transaction
from django.utils import timezone

from alerts.channels import Channel, ChannelRefused, channels
from alerts.models import Alert, FindingNotice, Notification
from alerts.services.policy import alert_policy_get
from audit.models import AuditRecord
from audit.services import audit_record_create
from config.keys import decrypt_text

NOTIFY_ACTOR = "stratify:alert-notifications"
FINDING_ACTIONS = {
    FindingNotice.Monitor.DRIFT: AuditRecord.Action.DRIFT_CHECK,
    FindingNotice.Monitor.PERFORMANCE: AuditRecord.Action.PERFORMANCE_CHECK,
}


def notifications_schedule(alert_id: int, *, purpose: str) -> None:
    """Create and send the alert's messages for `purpose` once the surrounding transaction commits."""
    # robust: a broker outage is logged, never undoes the alert (the inbox shows it either way).
    transaction.on_commit(lambda: notifications_dispatch(alert_id, purpose=purpose), robust=True)


def notifications_dispatch(alert_id: int, *, purpose: str) -> list[int]:
    """One Notification per channel that takes part for this purpose, each queued for sending; their ids."""
    from alerts.tasks import notification_send  # the task module imports these services

    alert = Alert.objects.get(pk=alert_id)
    policy = alert_policy_get(alert.model_name, alert.unit)
    created = []
    for channel in channels():
        recipients = channel.recipients(alert, policy, purpose)
        if recipients is not None:
            created.append(
                Notification.objects.create(
                    alert=alert, channel=channel.name, purpose=purpose, recipients=recipients[:1000]
                ).pk
            )
    for notification_id in created:
        notification_send.delay(notification_id)
    return created


def notification_deliver(notification_id: int) -> str:
    """One try: hand the message to its channel. Sent, dead at once on a refusal, or re-raises a failure that
    may pass (the task retries it). A message no longer pending is left alone (a redelivered task)."""
    from alerts.services.lifecycle import alert_delivered

    notification = Notification.objects.select_related("alert", "finding").get(pk=notification_id)
    if notification.status != Notification.Status.PENDING:
        return notification.status
    Notification.objects.filter(pk=notification.pk).update(attempts=notification.attempts + 1)
    notification.attempts += 1
    channel = next(c for c in channels() if c.name == notification.channel)
    try:
        _hand_over(channel, notification)
    except ChannelRefused as exc:
        return notification_dead(notification_id, error=str(exc))
    except Exception as exc:
        Notification.objects.filter(pk=notification.pk).update(last_error=str(exc)[:2000])
        raise
    Notification.objects.filter(pk=notification.pk).update(
        status=Notification.Status.SENT, sent_at=timezone.now(), last_error=""
    )
    _audit(notification, outcome="success")
    if notification.purpose == Notification.Purpose.NEW and notification.alert_id is not None:
        alert_delivered(notification.alert_id)
    return Notification.Status.SENT


def _hand_over(channel: Channel, notification: Notification) -> None:
    if notification.finding is not None:
        channel.send_finding(notification, notification.finding)
    elif notification.alert is not None:
        channel.send(notification, notification.alert)


def notification_dead(notification_id: int, *, error: str) -> str:
    """Dead-letter a pending message (tries ran out, or refused) with its error; audited."""
    moved = Notification.objects.filter(pk=notification_id, status=Notification.Status.PENDING).update(
        status=Notification.Status.DEAD, last_error=error[:2000]
    )
    notification = Notification.objects.select_related("alert", "finding").get(pk=notification_id)
    if moved:
        _audit(notification, outcome="failure", error=error[:300])
    return notification.status


def notification_retry(notification: Notification) -> bool:
    """Queue a dead-lettered message again (admin action); False when it is not dead."""
    from alerts.tasks import notification_send

    moved = Notification.objects.filter(pk=notification.pk, status=Notification.Status.DEAD).update(
        status=Notification.Status.PENDING, attempts=0
    )
    if moved:
        transaction.on_commit(lambda: notification_send.delay(notification.pk), robust=True)
    return bool(moved)


def _audit(notification: Notification, *, outcome: str, **detail: str) -> None:
    told = {
        "transition": "notification",
        "notification_id": notification.pk,
        "channel": notification.channel,
        "purpose": notification.purpose,
        "attempts": notification.attempts,
        **detail,
    }
    if notification.finding is not None:
        _finding_audit(notification.finding, outcome=outcome, detail=told)
    elif notification.alert is not None:
        _alert_audit(notification.alert, outcome=outcome, detail=told)


def _alert_audit(alert: Alert, *, outcome: str, detail: dict[str, object]) -> None:
    audit_record_create(
        action="alert",
        outcome=outcome,
        actor=NOTIFY_ACTOR,
        patient_id=decrypt_text(alert.patient_ref_encrypted),
        model_name=alert.model_name,
        model_version=alert.model_version,
        output_summary={"status": alert.status, "band": alert.band},
        detail={"alert_id": alert.pk, **detail},
    )


def _finding_audit(finding: FindingNotice, *, outcome: str, detail: dict[str, object]) -> None:
    audit_record_create(
        action=FINDING_ACTIONS[FindingNotice.Monitor(finding.monitor)],
        outcome=outcome,
        actor=NOTIFY_ACTOR,
        model_name=finding.model_name,
        model_version=finding.model_version,
        output_summary={"finding": finding.pk, "run": finding.run_id},
        detail={"finding": finding.pk, "run": finding.run_id, **detail},
    )
