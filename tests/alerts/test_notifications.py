"""Notifications over real loopback servers: the signed webhook (signature, retry with backoff, dead letter,
refusal) and e-mail through Django's SMTP backend to aiosmtpd; escalation and closing messages."""

import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import pytest
from django.core import checks
from django.utils import timezone

from alerts.channels import webhook_signature
from alerts.models import Alert, AlertPolicy, Notification
from alerts.services import alert_resolve, alerts_on_score, alerts_sweep
from alerts.services.notify import notification_retry
from alerts.services.policy import alert_policy_update
from audit.models import AuditRecord
from tests.alerts.conftest import PATIENT, REGISTRATION, Listener, Mailbox, result

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
SECRET = "test-webhook-secret-0123456789"


@pytest.fixture
def webhook(settings: Any, webhook_listener: Listener) -> Listener:
    settings.ALERTS_WEBHOOK_URL = webhook_listener.url
    settings.ALERTS_WEBHOOK_SECRET = SECRET
    settings.ALERTS_NOTIFY_MAX_TRIES = 3
    alert_policy_update(policy=AlertPolicy(model_name="news2"), changes={"notify_webhook": True}, actor="a", reason="r")
    return webhook_listener


def raise_alert(minutes: int = 0, patient: str = PATIENT) -> Alert:
    alerts_on_score(
        registration_id=REGISTRATION, patient_id=patient, unit="ICU", results=[result("high", minutes=minutes)]
    )
    return Alert.objects.filter(patient_pseudonym__isnull=False).latest("pk")


def test_webhook_is_signed_with_hmac_sha256_of_the_body(webhook: Listener) -> None:
    alert = raise_alert()
    ((headers, body),) = webhook.received
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-stratify-signature"] == f"sha256={expected}" == f"sha256={webhook_signature(body, SECRET)}"
    payload = json.loads(body)
    assert payload["event"] == "new" and payload["alert"]["id"] == alert.pk
    assert (payload["alert"]["patient"], payload["alert"]["band"], payload["alert"]["score"]) == (
        PATIENT,
        "high",
        "7 points",
    )
    assert payload["alert"]["drivers"][0] == "Respiratory rate 25 /min: 3 points"
    sent = Notification.objects.get(channel="webhook")
    assert (sent.status, sent.attempts, str(sent.pk)) == ("sent", 1, headers["x-stratify-delivery"])


def test_webhook_retries_transient_failures_then_succeeds(webhook: Listener) -> None:
    webhook.statuses = [503, 429]
    raise_alert()
    assert len(webhook.received) == 3
    assert Notification.objects.get(channel="webhook").status == "sent"
    assert Notification.objects.get(channel="webhook").attempts == 3


def test_webhook_dead_letters_after_its_tries_and_admin_retry_sends_it(webhook: Listener) -> None:
    webhook.statuses = [500, 502, 503]
    alert = raise_alert()
    dead = Notification.objects.get(channel="webhook")
    assert (dead.status, dead.attempts, len(webhook.received)) == ("dead", 3, 3)
    assert "503" in dead.last_error
    failures = AuditRecord.objects.filter(action="alert", outcome="failure")
    assert [r.detail["channel"] for r in failures] == ["webhook"]
    assert Alert.objects.get(pk=alert.pk).status == "delivered"  # the inbox still took it
    assert notification_retry(dead) and not notification_retry(dead)
    assert Notification.objects.get(pk=dead.pk).status == "sent" and len(webhook.received) == 4


def test_webhook_refused_with_a_4xx_is_dead_at_once_and_unsigned_never_sent(webhook: Listener, settings: Any) -> None:
    webhook.statuses = [400]
    raise_alert()
    assert Notification.objects.get(channel="webhook").status == "dead" and len(webhook.received) == 1
    settings.ALERTS_WEBHOOK_SECRET = ""
    assert [e.id for e in checks.run_checks() if str(e.id).startswith("alerts.")] == ["alerts.E001"]
    raise_alert(patient="Patient/pat-2")
    assert len(webhook.received) == 1
    assert "never sent unsigned" in Notification.objects.filter(channel="webhook").latest("pk").last_error


def test_webhook_unreachable_is_retried_then_dead(webhook: Listener, settings: Any) -> None:
    settings.ALERTS_WEBHOOK_URL = "http://127.0.0.1:9/hook"  # discard port: connection refused
    raise_alert()
    dead = Notification.objects.get(channel="webhook")
    assert (dead.status, dead.attempts) == ("dead", 3) and "unreachable" in dead.last_error


def test_email_reaches_the_smtp_server_and_escalation_goes_to_its_list(smtp_server: Mailbox, webhook: Listener) -> None:
    alert_policy_update(
        policy=AlertPolicy.objects.get(model_name="news2", unit=""),
        changes={"email_to": "ward@example.org, rapid@example.org", "escalation_email_to": "charge@example.org"},
        actor="a",
        reason="r",
    )
    alert = raise_alert()
    ((to, message),) = smtp_server.messages
    assert sorted(to) == ["rapid@example.org", "ward@example.org"]
    assert message["Subject"] == "[Stratify] New alert: NEWS2 high (ICU)"
    body = message.get_payload()
    assert "/alerts/inbox/?unit=ICU" in body and PATIENT not in body  # no patient identifier by e-mail
    Alert.objects.filter(pk=alert.pk).update(waiting_since=timezone.now() - timedelta(minutes=31))
    assert alerts_sweep()["escalated"] == 1
    assert smtp_server.messages[-1][0] == ["charge@example.org"]
    assert smtp_server.messages[-1][1]["Subject"].startswith("[Stratify] ESCALATED")
    alert_resolve(alert_id=alert.pk, actor="nurse")
    assert [json.loads(b)["event"] for _, b in webhook.received] == ["new", "escalation", "closed"]
    assert len(smtp_server.messages) == 2  # a close is not e-mailed


def test_email_to_an_unreachable_server_is_dead_lettered(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.ALERTS_NOTIFY_MAX_TRIES = "127.0.0.1", 9, 2
    alert_policy_update(
        policy=AlertPolicy(model_name="news2"), changes={"email_to": "ward@example.org"}, actor="a", reason="r"
    )
    raise_alert()
    dead = Notification.objects.get(channel="email")
    assert (dead.status, dead.attempts) == ("dead", 2)
