"""The clinician alert inbox in a real browser (Playwright + Debian's chromium) over live_server: the unit's
worklist, acknowledging (audited), snoozing with a reason, and a new alert appearing by polling."""

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client

from alerts.models import Alert
from alerts.services import alerts_on_score
from audit.models import AuditRecord
from tests.alerts.conftest import REGISTRATION, result

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


@pytest.fixture
def page(live_server: Any, settings: Any) -> Iterator[Any]:
    """A chromium page logged in (session cookie) as a member of the clinician group."""
    from playwright.sync_api import sync_playwright

    settings.ALERTS_INBOX_POLL_SECONDS = 1
    call_command("governance_setup", verbosity=0)
    user = User.objects.create_user("nurse.jones", password="x-unused")
    user.groups.add(Group.objects.get(name="clinician"))
    client = Client()
    client.force_login(user)
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
        yield context.new_page()
        browser.close()


def raise_alert(patient: str, unit: str = "ICU") -> Alert:
    alerts_on_score(registration_id=REGISTRATION, patient_id=patient, unit=unit, results=[result("high")])
    return Alert.objects.latest("pk")


def test_clinician_acknowledges_in_the_browser_and_new_alerts_appear_live(page: Any, live_server: Any) -> None:
    first = raise_alert("Patient/pat-1")
    raise_alert("Patient/elsewhere", unit="Ward 3")
    page.goto(f"{live_server.url}/alerts/inbox/?unit=ICU")
    row = page.locator(f'tr[data-alert="{first.pk}"]')
    assert row.get_attribute("data-status") == "delivered"
    assert "Respiratory rate 25 /min: 3 points" in row.inner_text() and "Patient/pat-1" in row.inner_text()
    assert page.locator("#inbox tbody tr").count() == 1  # the other unit's alert is not on this worklist
    row.locator("button.ack").click()
    page.wait_for_selector(f'tr[data-alert="{first.pk}"][data-status="acknowledged"]')
    assert "NEWS2 alert acknowledged." in page.locator("#messages").inner_text()
    first.refresh_from_db()
    assert (first.status, first.acknowledged_by) == ("acknowledged", "nurse.jones")
    audit = [r for r in AuditRecord.objects.filter(action="alert") if r.detail["transition"] == "acknowledged"]
    assert [r.actor for r in audit] == ["nurse.jones"]
    second = raise_alert("Patient/pat-2")  # arrives while the page is open: the poll shows it
    page.wait_for_selector(f'tr[data-alert="{second.pk}"]', timeout=10_000)
    assert page.locator("#inbox-status").inner_text() == "2 open."
    waiting = page.locator(f'tr[data-alert="{second.pk}"]')
    waiting.locator("input[name=reason][required]").fill("rapid response team at bedside")
    waiting.locator("select[name=minutes]").select_option("30")
    waiting.locator("button.snooze").click()
    page.wait_for_selector(f'tr[data-alert="{second.pk}"][data-status="snoozed"]')
    assert "rapid response team at bedside" in page.locator(f'tr[data-alert="{second.pk}"]').inner_text()
    assert Alert.objects.get(pk=second.pk).snooze_reason == "rapid response team at bedside"
