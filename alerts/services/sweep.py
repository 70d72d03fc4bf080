"""The minute sweep (Celery beat): snoozes that ended come back, unacknowledged alerts escalate and expire at
their policy's times. Each move is a conditional update, so a clinician acknowledging at the same moment wins
or loses cleanly, never both."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from alerts.models import Alert
from alerts.services import lifecycle
from alerts.services.notify import notifications_schedule
from alerts.services.policy import alert_policy_get


def alerts_sweep() -> dict[str, int]:
    """Wake ended snoozes, then escalate and expire what waited too long; counts of each."""
    counts = {"woken": 0, "escalated": 0, "expired": 0}
    now = timezone.now()
    for alert in Alert.objects.filter(status=Alert.Status.SNOOZED, snoozed_until__lte=now):
        counts["woken"] += _wake(alert)
    for alert in Alert.objects.filter(status__in=Alert.AWAITING_ACK).order_by("pk"):
        policy = alert_policy_get(alert.model_name, alert.unit)
        waited = now - (alert.waiting_since or alert.created_at)
        if waited >= timedelta(minutes=policy.expire_after_minutes):
            counts["expired"] += _expire(alert, policy.expire_after_minutes)
        elif _escalation_due(alert, policy.escalate_after_minutes, waited):
            counts["escalated"] += _escalate(alert, policy.escalate_after_minutes)
    return counts


def _escalation_due(alert: Alert, minutes: int, waited: timedelta) -> bool:
    """Not escalated yet, the policy escalates (minutes > 0), and the alert has waited that long."""
    return bool(minutes) and alert.status != Alert.Status.ESCALATED and waited >= timedelta(minutes=minutes)


def _wake(alert: Alert) -> int:
    """A snooze ended: the alert waits for acknowledgement again (its clock restarts) and is announced again."""
    now = timezone.now()
    with transaction.atomic():
        if not lifecycle.alert_move(alert, Alert.Status.DELIVERED, [Alert.Status.SNOOZED], waiting_since=now):
            return 0
        lifecycle.audit(alert, transition="snooze_ended", actor=lifecycle.SYSTEM_ACTOR)
        notifications_schedule(alert.pk, purpose="reminder")
    return 1


def _escalate(alert: Alert, minutes: int) -> int:
    with transaction.atomic():
        moved = lifecycle.alert_move(
            alert, Alert.Status.ESCALATED, [Alert.Status.CREATED, Alert.Status.DELIVERED], escalated_at=timezone.now()
        )
        if not moved:
            return 0
        lifecycle.audit(
            alert, transition="escalated", actor=lifecycle.SYSTEM_ACTOR, reason=f"unacknowledged for {minutes} min"
        )
        notifications_schedule(alert.pk, purpose="escalation")
    return 1


def _expire(alert: Alert, minutes: int) -> int:
    with transaction.atomic():
        closed = lifecycle.close(
            alert, Alert.Status.EXPIRED, actor=lifecycle.SYSTEM_ACTOR, reason=f"unacknowledged for {minutes} min"
        )
    return int(closed)
