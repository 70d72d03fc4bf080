"""The inbox's JSON feed and actions, who may see them, and measured attention (selector and admin page)."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from alerts.models import Alert
from alerts.selectors import NO_OUTCOMES, alert_attention
from alerts.services import alert_acknowledge, alert_outcome_record, alert_resolve, alerts_on_score, alerts_sweep
from tests.alerts.conftest import REGISTRATION, result

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def member(client: Client, group: str) -> Client:
    call_command("governance_setup", verbosity=0)
    user = User.objects.create_user(f"{group}-user", password="x-unused")
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    return client


def raise_alert(patient: str, unit: str = "ICU", band: str = "high") -> Alert:
    alerts_on_score(registration_id=REGISTRATION, patient_id=patient, unit=unit, results=[result(band)])
    return Alert.objects.latest("pk")


def test_feed_lists_the_units_open_alerts_for_clinicians_only(client: Client) -> None:
    alert = raise_alert("Patient/pat-1")
    assert client.get("/alerts/inbox/feed?unit=ICU").status_code == 302  # login first
    member(client, "auditor")
    assert client.get("/alerts/inbox/feed?unit=ICU").status_code == 403
    client.logout()
    member(client, "clinician")
    feed = client.get("/alerts/inbox/feed?unit=ICU").json()
    assert (feed["open"], feed["waiting"], feed["alerts"][0]["id"]) == (1, 1, alert.pk)
    assert f'data-alert="{alert.pk}"' in feed["rows_html"]
    units = client.get("/alerts/inbox/")
    assert units.status_code == 200 and b"?unit=ICU" in units.content and b'id="inbox"' not in units.content


def test_actions_redirect_to_the_unit_and_report_refusals(client: Client) -> None:
    alert = raise_alert("Patient/pat-1")
    member(client, "clinician")
    bad = client.post(f"/alerts/{alert.pk}/snooze", {"unit": "ICU", "reason": "x", "minutes": "soon"}, follow=True)
    assert b"Unknown action, or snooze without a number of minutes." in bad.content
    done = client.post(f"/alerts/{alert.pk}/resolve", {"unit": "ICU", "reason": "treated"})
    assert done.status_code == 302 and done["Location"] == "/alerts/inbox/?unit=ICU"
    assert Alert.objects.get(pk=alert.pk).close_reason == "treated"
    again = client.post(f"/alerts/{alert.pk}/acknowledge", {"unit": "ICU"}, follow=True)
    assert b"it cannot be acknowledged now" in again.content
    assert client.get(f"/alerts/{alert.pk}/acknowledge").status_code == 405


def test_attention_per_model_and_unit_with_ppv_only_when_outcomes_exist(client: Client) -> None:
    first, second, third = (raise_alert(f"Patient/p{n}") for n in range(3))
    for n in range(3, 7):  # monitored, never alerted
        raise_alert(f"Patient/p{n}", band="low")
    raise_alert("Patient/w1", unit="Ward 3")
    Alert.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    alert_acknowledge(alert_id=first.pk, actor="n")
    alert_resolve(alert_id=first.pk, actor="n")
    Alert.objects.filter(pk=second.pk).update(created_at=timezone.now() - timedelta(minutes=4))
    alert_acknowledge(alert_id=second.pk, actor="n")
    Alert.objects.filter(pk=third.pk).update(waiting_since=timezone.now() - timedelta(hours=5))
    alerts_sweep()
    now = timezone.now()
    icu, ward = alert_attention(since=now - timedelta(days=1), until=now + timedelta(seconds=1))
    assert (icu.model_name, icu.unit, icu.alerts, icu.patient_days) == ("news2", "ICU", 3, 7)
    assert icu.per_patient_day == pytest.approx(3 / 7)
    assert icu.median_ack_minutes == pytest.approx(7, abs=0.1)
    assert (icu.acknowledged, icu.resolved, icu.expired, icu.escalated) == (2 / 3, 1 / 3, 1 / 3, 0)
    assert (icu.ppv, icu.ppv_text) == (None, NO_OUTCOMES)
    alert_outcome_record(alert_id=first.pk, occurred=True, source="monitoring")
    alert_outcome_record(alert_id=third.pk, occurred=False, source="monitoring")
    icu = alert_attention(since=now - timedelta(days=1), until=now + timedelta(seconds=1))[0]
    assert (icu.ppv, icu.ppv_text, ward.ppv_text) == (0.5, "50% of 2", NO_OUTCOMES)
    assert client.get("/alerts/attention/").status_code == 302
    member(client, "clinician")
    assert client.get("/alerts/attention/").status_code == 403
    client.logout()
    page = member(client, "admin").get("/alerts/attention/?days=7").content.decode()
    assert "last 7 days" in page and "0.43" in page and "7.0 min" in page and "50% of 2" in page and NO_OUTCOMES in page


def test_a_signed_out_clinician_is_sent_to_sign_in_and_then_to_the_inbox(client: Client) -> None:
    """The pages that need an account send the signed-out to Stratify's sign-in page (not admin's, which only
    staff may use), which then opens the page they asked for."""
    call_command("governance_setup", verbosity=0)
    nurse = User.objects.create_user("nurse", password="a long enough password")
    nurse.groups.add(Group.objects.get(name="clinician"))
    sent = client.get("/alerts/inbox/")
    assert (sent.status_code, sent["Location"]) == (302, "/accounts/login/?next=/alerts/inbox/")
    page = client.get(sent["Location"])
    assert page.status_code == 200 and b'name="password"' in page.content and b"/alerts/inbox/" in page.content
    wrong = client.post("/accounts/login/", {"username": "nurse", "password": "nope", "next": "/alerts/inbox/"})
    assert wrong.status_code == 200 and b"do not match" in wrong.content
    signed_in = client.post(
        "/accounts/login/", {"username": "nurse", "password": "a long enough password", "next": "/alerts/inbox/"}
    )
    assert (signed_in.status_code, signed_in["Location"]) == (302, "/alerts/inbox/")
    assert client.get("/alerts/inbox/").status_code == 200
    elsewhere = client.post("/accounts/login/", {"username": "nurse", "password": "x", "next": "https://evil.example/"})
    assert elsewhere.status_code == 302 and elsewhere["Location"] == "/"  # signed in already: never off-site
    assert client.post("/accounts/logout/")["Location"] == "/"
    assert client.get("/alerts/inbox/").status_code == 302
