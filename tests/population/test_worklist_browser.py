"""The cohort worklist in a real browser (Playwright + Debian's chromium) after a real run over HTTP:
ranking, band colours, filters, paging, CSV export, and who may see it."""

import contextlib
import csv
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client

from fhirapp.services.writeback_delivery import write_back_drain
from population.models import PatientResult
from population.services import runs
from population.views import PAGE_SIZE

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def page_as_clinician(ehr: dict[str, Any]) -> Iterator[Any]:
    """A chromium page logged in (session cookie) as a member of the clinician group."""
    from playwright.sync_api import sync_playwright

    call_command("governance_setup", verbosity=0)
    user = User.objects.create_user("nurse", password="x-unused")
    user.groups.add(Group.objects.get(name="clinician"))
    client = Client()
    client.force_login(user)
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": ehr["base"]}])
        page = context.new_page()
        yield page
        _settle(page)
        browser.close()


def _settle(page: Any) -> None:
    """Before the test's tables are emptied: let the page's requests end, leave it (no more polling), and wait
    for the write-backs its CDS calls queued in process. A chart page's hook calls still being served when the
    flush ran held row locks its TRUNCATE deadlocked on."""
    from playwright.sync_api import Error as PlaywrightError

    with contextlib.suppress(PlaywrightError):  # a page that keeps polling: leaving it ends that
        page.wait_for_load_state("networkidle", timeout=15_000)
    page.goto("about:blank")
    assert write_back_drain(60), "the page's write-backs did not finish"


def test_worklist_ranks_filters_and_exports(ehr: dict[str, Any], page_as_clinician: Any, tmp_path: Path) -> None:
    run = runs.run_start(cohort=ehr["cohort"], since="full")
    page = page_as_clinician
    page.goto(f"{ehr['base']}/population/icu/?model=news2")
    rows = page.locator("#worklist tbody tr")
    assert rows.count() == 4
    expected = list(
        PatientResult.objects.filter(run=run, model_name="news2")
        .order_by("-scored", "-rank_value", "patient_name")
        .values_list("patient_id", flat=True)
    )
    assert [rows.nth(i).get_attribute("data-patient") for i in range(4)] == expected
    first = PatientResult.objects.get(run=run, model_name="news2", patient_id=expected[0])
    band = rows.nth(0).locator(".band")
    assert band.get_attribute("class") == f"band band-{first.band or 'none'}"
    colour = band.evaluate("e => getComputedStyle(e).borderLeftColor")
    assert colour == {"high": "rgb(176, 0, 32)", "moderate": "rgb(138, 83, 0)", "low": "rgb(26, 127, 55)"}.get(
        first.band, "rgb(153, 153, 153)"
    )
    assert rows.nth(0).locator(".score").inner_text() == (f"{first.points:g} points" if first.scored else "Not scored")
    page.select_option("select[name=band]", first.band or "")
    page.click("#filters button[type=submit]")
    shown = page.locator("#worklist tbody tr")
    assert all(shown.nth(i).locator(".band").inner_text().lower() == first.band for i in range(shown.count()))
    with page.expect_download() as download:
        page.click("text=CSV export")
    table = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [r["patient_id"] for r in table] == [
        p for p in expected if PatientResult.objects.get(run=run, model_name="news2", patient_id=p).band == first.band
    ]
    page.screenshot(path=str(tmp_path / "worklist.png"))


def test_worklist_pages_and_refuses_others(ehr: dict[str, Any], client: Client) -> None:
    run = runs.run_start(cohort=ehr["cohort"], since="full")
    for n in range(PAGE_SIZE + 3):  # results of more patients than one page holds
        PatientResult.objects.create(
            run=run,
            chunk=99,
            patient_id=f"extra-{n}",
            model_name="news2",
            model_version="x",
            scored=True,
            points=float(n % 7),
            rank_value=float(n % 7),
            band="low",
        )
    user = User.objects.create_user("visitor", password="x-unused")
    client.force_login(user)
    assert client.get("/population/icu/").status_code == 403
    user.is_superuser = True
    user.save()
    second = client.get("/population/icu/?model=news2&page=2")
    assert second.status_code == 200 and b"Page 2 of 2" in second.content
    assert second.content.count(b"<tr data-patient=") == 4 + PAGE_SIZE + 3 - PAGE_SIZE
