"""Alert policies are edited in admin with a reason (history, one audit record per save); alerts and their
notifications are read-only there; dead letters are listed with a "retry" action."""

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from alerts.models import Alert, AlertPolicy, Notification
from alerts.services import alerts_on_score
from audit.models import AuditRecord
from tests.alerts.conftest import PATIENT, REGISTRATION, result

pytestmark = [pytest.mark.integration, pytest.mark.django_db]
POLICY = {
    "model_name": "news2",
    "unit": "ICU",
    "enabled": "on",
    "min_band": "moderate",
    "escalate_after_minutes": "20",
    "expire_after_minutes": "120",
    "realert_minutes": "60",
    "max_snooze_minutes": "60",
    "resolve_when_band_falls": "on",
    "email_to": "icu@example.org",
    "escalation_email_to": "",
    "changes-TOTAL_FORMS": "0",
    "changes-INITIAL_FORMS": "0",
}


@pytest.fixture
def admin_client_su() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="pw-123456789"))
    return client


def _post(client: Client, url: str, data: dict[str, Any]) -> None:
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]


def test_policy_added_and_changed_in_admin_with_history(admin_client_su: Client) -> None:
    _post(admin_client_su, reverse("admin:alerts_alertpolicy_add"), {**POLICY, "reason": "ICU pilot"})
    policy = AlertPolicy.objects.get()
    url = reverse("admin:alerts_alertpolicy_change", args=[policy.pk])
    _post(admin_client_su, url, {**POLICY, "escalate_after_minutes": "15", "reason": "faster escalation"})
    policy.refresh_from_db()
    assert (policy.unit, policy.min_band, policy.escalate_after_minutes) == ("ICU", "moderate", 15)
    assert [(c.reason, c.after["escalate_after_minutes"]) for c in policy.changes.all()] == [
        ("faster escalation", 15),
        ("ICU pilot", 20),
    ]
    assert AuditRecord.objects.filter(action="admin_change").count() == 2
    page = admin_client_su.get(url).content.decode()
    assert "faster escalation" in page
    assert admin_client_su.post(url, {**POLICY, "reason": ""}).status_code == 200  # a reason is required


def test_alerts_read_only_and_dead_letters_retried(
    admin_client_su: Client, django_capture_on_commit_callbacks: Any
) -> None:
    alerts_on_score(registration_id=REGISTRATION, patient_id=PATIENT, unit="ICU", results=[result("high")])
    alert = Alert.objects.get()
    dead = Notification.objects.create(alert=alert, channel="inbox", status="dead", attempts=5, last_error="x")
    assert admin_client_su.get(reverse("admin:alerts_alert_change", args=[alert.pk])).status_code == 200
    assert admin_client_su.get(reverse("admin:alerts_notification_changelist")).status_code == 200
    listed = admin_client_su.get(reverse("admin:alerts_deadletter_changelist")).content.decode()
    assert f'value="{dead.pk}"' in listed
    with django_capture_on_commit_callbacks(execute=True):
        _post(
            admin_client_su,
            reverse("admin:alerts_deadletter_changelist"),
            {"action": "retry", "_selected_action": [dead.pk]},
        )
    dead.refresh_from_db()
    assert (dead.status, dead.attempts) == ("sent", 1)
    assert AuditRecord.objects.filter(action="admin_change").count() == 1
    assert admin_client_su.post(reverse("admin:alerts_alert_delete", args=[alert.pk])).status_code == 403
