"""The cohort dashboard in a real browser (Playwright + Debian's chromium): server-rendered SVG plots per model,
run history with patients/min, the live progress bar of a running job (a static script polling JSON under the
CSP), and the drill-down from a worklist row to the patient's chart in the EHR, which opens the sidebar."""

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from population.models import PatientResult, PopulationRun
from population.services import runs
from tests.population.conftest import MODELS
from tests.population.test_worklist_browser import page_as_clinician  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def _bar_counts(page: Any, chart_id: str) -> list[int]:
    titles = page.locator(f"#{chart_id} rect title").evaluate_all("els => els.map(e => e.textContent)")
    return [int(re.search(r": (\d+) ", t).group(1)) for t in titles]  # type: ignore[union-attr]


def test_dashboard_plots_history_and_live_progress(ehr: dict[str, Any], page_as_clinician: Any) -> None:  # noqa: F811
    done = runs.run_start(cohort=ehr["cohort"], since="full")
    done.refresh_from_db()
    running = runs.run_create(cohort=ehr["cohort"], since="full")
    runs.run_export(running.pk)  # the export is complete: the run waits to download
    page = page_as_clinician
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("response", lambda r: errors.append(r.url) if r.status >= 400 and "favicon" not in r.url else None)
    page.goto(f"{ehr['base']}/population/icu/dashboard")
    for model in MODELS:
        scored = PatientResult.objects.filter(run=done, model_name=model, scored=True).count()
        assert sum(_bar_counts(page, f"risk-{model}")) == scored
        assert sum(_bar_counts(page, f"units-{model}")) == 4  # every patient, scored or not, in its unit
        assert sum(_bar_counts(page, f"runs-{model}")) == 4
    assert page.locator("#history tbody tr").count() == 2
    rate = page.locator("#history tbody tr").nth(1).locator(".rate").inner_text()
    assert rate and float(rate.replace(",", "")) > 0
    expect(page.locator("#run-status")).to_contain_text("downloading")  # polled: page scripts run under the CSP
    PopulationRun.objects.filter(pk=running.pk).update(
        status="scoring", chunks_total=4, chunks_done=3, patients_total=4, patients_scored=3
    )
    expect(page.locator("#run-progress")).to_have_attribute("value", "3", timeout=10_000)
    assert page.locator("#run-progress").get_attribute("max") == "4"
    assert "3/4 patients" in page.locator("#run-status").inner_text()
    runs.run_cancel(running)
    expect(page.locator("#progress-panel")).to_have_attribute("data-status", "cancelled", timeout=10_000)
    assert not errors  # no CSP violation, no failed request


def test_a_worklist_row_drills_down_to_the_patients_chart(ehr: dict[str, Any], page_as_clinician: Any) -> None:  # noqa: F811
    cohort = ehr["cohort"]
    cohort.patient_url_template = f"{ehr['base']}/sandbox/ehr/patients/{{patient_id}}"
    cohort.save()
    runs.run_start(cohort=cohort, since="full")
    page = page_as_clinician
    page.goto(f"{ehr['base']}/population/icu/?model=sepsis")
    first = page.locator("#worklist tbody tr").nth(0)
    patient = first.get_attribute("data-patient")
    link = first.locator("a.patient-link")
    assert link.get_attribute("href") == f"{ehr['base']}/sandbox/ehr/patients/{patient}"
    link.click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/sandbox/ehr/patients/{patient}")
    assert patient in page.content()


def test_progress_json_and_who_may_see_the_dashboard(ehr: dict[str, Any], client: Client) -> None:
    user = User.objects.create_user("visitor", password="x-unused")
    client.force_login(user)
    assert client.get("/population/icu/dashboard").status_code == 403
    assert client.get("/population/icu/progress.json").status_code == 403
    user.is_superuser = True
    user.save()
    assert client.get("/population/icu/progress.json").json() == {"run": None}
    assert b"No data yet." in client.get("/population/icu/dashboard").content
