"""Admin saves write exactly one audit record each; the write-back policy is edited in admin with history."""

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from audit.models import AuditRecord
from cds_hooks.models import CdsServiceSetting
from fhirapp.models import WriteBackPolicy
from smart_launch.models import EhrRegistration

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_su() -> Client:
    user = User.objects.create_superuser("root", password="pw-123456789")
    client = Client()
    client.force_login(user)
    return client


def _post(client: Client, url: str, data: dict[str, Any]) -> None:
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]


def test_an_ehr_registration_saved_in_admin_writes_one_audit_record(admin_client_su: Client) -> None:
    """It wrote two: AuditedAdminMixin's and one more from the admin's own save_model."""
    _post(
        admin_client_su,
        reverse("admin:smart_launch_ehrregistration_add"),
        {
            "name": "EHR",
            "iss": "https://ehr.example.org/fhir",
            "client_id": "c1",
            "client_type": "public",
            "scopes": "launch openid",
            "frame_ancestors": "",
            "enabled": "on",
        },
    )
    registration = EhrRegistration.objects.get()
    assert AuditRecord.objects.filter(action="admin_change").count() == 1
    _post(
        admin_client_su,
        reverse("admin:smart_launch_ehrregistration_change", args=[registration.pk]),
        {
            "name": "EHR 2",
            "iss": registration.iss,
            "client_id": "c1",
            "client_type": "public",
            "scopes": "launch openid",
            "frame_ancestors": "",
            "enabled": "on",
        },
    )
    assert AuditRecord.objects.filter(action="admin_change").count() == 2


def test_a_cds_service_setting_saved_in_admin_writes_one_audit_record(admin_client_su: Client) -> None:
    _post(
        admin_client_su,
        reverse("admin:cds_hooks_cdsservicesetting_add"),
        {"service_id": "stratify-news2", "enabled": "on", "not_scored": "card", "write_back": "on"},
    )
    assert CdsServiceSetting.objects.count() == 1
    assert AuditRecord.objects.filter(action="admin_change").count() == 1


def test_write_back_policy_is_edited_in_admin_with_history(admin_client_su: Client) -> None:
    _post(
        admin_client_su,
        reverse("admin:fhirapp_writebackpolicy_add"),
        {
            "model_name": "sepsis",
            "write_on_band_change": "on",
            "min_interval_minutes": "30",
            "reason": "ICU unit",
            "changes-TOTAL_FORMS": "0",
            "changes-INITIAL_FORMS": "0",
        },
    )
    policy = WriteBackPolicy.objects.get()
    _post(
        admin_client_su,
        reverse("admin:fhirapp_writebackpolicy_change", args=[policy.pk]),
        {
            "min_interval_minutes": "120",
            "reason": "too many writes",
            "changes-TOTAL_FORMS": "1",
            "changes-INITIAL_FORMS": "1",
            "changes-0-id": str(policy.changes.get().pk),
            "changes-0-policy": str(policy.pk),
        },
    )
    policy.refresh_from_db()
    assert (policy.min_interval_minutes, policy.write_on_band_change) == (120, False)
    history = list(policy.changes.order_by("id"))
    assert [h.reason for h in history] == ["ICU unit", "too many writes"]
    assert history[1].before == {"write_on_band_change": True, "min_interval_minutes": 30}
    assert AuditRecord.objects.filter(action="admin_change").count() == 2
