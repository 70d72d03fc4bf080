"""Edges of the lifecycle and its notifications: races lost cleanly, redelivered tasks, refused recipients,
the beat task, a webhook signed only with its secret, and the names admin shows."""

from typing import Any

import pytest

from alerts.checks import webhook_secret_check
from alerts.models import Alert, AlertPolicy, MonitoredPatientDay, Notification
from alerts.services import alert_acknowledge, alerts_on_score
from alerts.services.notify import notification_deliver
from alerts.services.policy import alert_policy_update
from alerts.services.sweep import _escalate, _wake
from alerts.tasks import alerts_sweep_task
from tests.alerts.conftest import PATIENT, REGISTRATION, Mailbox, result

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def raise_alert() -> Alert:
    alerts_on_score(registration_id=REGISTRATION, patient_id=PATIENT, unit="ICU", results=[result("high")])
    return Alert.objects.get()


def test_sweep_moves_lost_to_a_clinician_change_nothing() -> None:
    alert = raise_alert()
    alert_acknowledge(alert_id=alert.pk, actor="nurse")
    assert _wake(alert) == 0 and _escalate(alert, 30) == 0
    assert Alert.objects.get().status == "acknowledged"
    assert alerts_sweep_task() == {"woken": 0, "escalated": 0, "expired": 0}


def test_a_redelivered_notification_task_sends_nothing_again(django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        alert = raise_alert()
    sent = Notification.objects.get(alert=alert)
    assert notification_deliver(sent.pk) == "sent"
    assert Notification.objects.get(pk=sent.pk).attempts == 1


@pytest.mark.django_db(transaction=True)
def test_refused_recipients_are_dead_lettered_at_once(smtp_server: Mailbox) -> None:
    smtp_server.refused = {"gone@example.org"}
    alert_policy_update(
        policy=AlertPolicy(model_name="news2"), changes={"email_to": "gone@example.org"}, actor="a", reason="r"
    )
    raise_alert()
    dead = Notification.objects.get(channel="email")
    assert (dead.status, dead.attempts) == ("dead", 1) and "gone@example.org" in dead.last_error
    assert smtp_server.messages == []


def test_webhook_check_passes_with_a_secret_or_without_a_url(settings: Any) -> None:
    settings.ALERTS_WEBHOOK_URL, settings.ALERTS_WEBHOOK_SECRET = "https://pager.example.org/hook", "s" * 32
    assert webhook_secret_check() == []
    settings.ALERTS_WEBHOOK_URL, settings.ALERTS_WEBHOOK_SECRET = "", ""
    assert webhook_secret_check() == []


def test_names_shown_in_admin() -> None:
    alert = raise_alert()
    policy = alert_policy_update(policy=AlertPolicy(model_name="news2"), changes={}, actor="a", reason="r")
    assert str(alert) == "NEWS2 high (ICU) created"
    assert str(policy) == "alert policy of news2 on every unit"
    assert str(policy.changes.get()).startswith("alert policy of news2 on every unit change ")
    assert str(Notification(alert=alert, channel="email", purpose="new")) == f"email new of alert {alert.pk} pending"
    assert str(MonitoredPatientDay.objects.get()).startswith("news2 ICU ")


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_result_raise_one_alert() -> None:
    """At-least-once delivery: the same result scored by several consumers at once (PostgreSQL lock + constraint)."""
    import threading

    from django.db import connection

    gate = threading.Barrier(6)
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            gate.wait()
            alerts_on_score(registration_id=REGISTRATION, patient_id=PATIENT, unit="ICU", results=[result("high")])
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and Alert.objects.count() == 1
