"""The Celery path: a real worker process over Redis sends the signed webhook with backoff between tries and
dead-letters it when they run out; a second alert's webhook gets through after one failure."""

import subprocess
import time
from typing import Any

import pytest

from alerts.models import Alert, AlertPolicy, Notification
from alerts.services import alerts_on_score
from alerts.services.policy import alert_policy_update
from tests.alerts.conftest import REGISTRATION, Listener, result

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
SECRET = "worker-webhook-secret-0123456789"


@pytest.fixture
def worker_webhook(webhook_listener: Listener, monkeypatch: pytest.MonkeyPatch, settings: Any) -> Listener:
    """Requested before the worker fixture, so the worker's environment carries these settings."""
    values = {
        "ALERTS_WEBHOOK_URL": webhook_listener.url,
        "ALERTS_WEBHOOK_SECRET": SECRET,
        "ALERTS_NOTIFY_MAX_TRIES": "3",
        "ALERTS_NOTIFY_RETRY_BASE_SECONDS": "1",
        "ALERTS_NOTIFY_RETRY_MAX_SECONDS": "2",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
        setattr(settings, name, int(value) if value.isdigit() else value)
    alert_policy_update(policy=AlertPolicy(model_name="news2"), changes={"notify_webhook": True}, actor="a", reason="r")
    return webhook_listener


def _settled(notification: Notification, timeout: float = 60) -> Notification:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        notification.refresh_from_db()
        if notification.status != Notification.Status.PENDING:
            return notification
        time.sleep(0.2)
    raise AssertionError(f"notification still pending after {timeout} s (attempts={notification.attempts})")


def test_worker_backs_off_dead_letters_then_delivers(
    worker_webhook: Listener, celery_worker_process: subprocess.Popen[bytes]
) -> None:
    worker_webhook.statuses = [503, 503, 503, 502]
    for patient in ("Patient/w-1", "Patient/w-2"):
        alerts_on_score(registration_id=REGISTRATION, patient_id=patient, unit="ICU", results=[result("high")])
        webhook = Notification.objects.filter(channel="webhook").latest("pk")
        _settled(webhook)
    first, second = Notification.objects.filter(channel="webhook").order_by("pk")
    assert (first.status, first.attempts, second.status, second.attempts) == ("dead", 3, "sent", 2)
    assert len(worker_webhook.received) == 5
    assert all(h["x-stratify-signature"].startswith("sha256=") for h, _ in worker_webhook.received)
    assert set(Alert.objects.values_list("status", flat=True)) == {"delivered"}  # the inbox took both
