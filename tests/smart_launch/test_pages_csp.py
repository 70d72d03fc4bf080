"""One Content-Security-Policy on every HTML page, and the pages still work under it in a real browser
(Playwright + Debian's chromium): landing, model index and card, admin (login, the issued-card list with its
alert-burden table), the sandbox EHR's patient list and chart, the sidebar launched from it."""

import os
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from scoring.selectors import model_card_url
from tests.smart_launch.test_sidebar_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_page() -> Any:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium (scripts/system_deps.sh does it)")
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser.new_page(viewport={"width": 1280, "height": 900})
        browser.close()


def test_every_page_has_the_policy_and_works_under_it(
    live_server: Any, settings: Any, browser_page: Any, sandbox_patient_loader: Any, django_user_model: Any
) -> None:
    settings.PUBLIC_BASE_URL = live_server.url
    for command in ("install_models", "sandbox_setup", "smart_demo_setup"):
        call_command(command, verbosity=0)
    patient_id = sandbox_patient_loader()
    django_user_model.objects.create_superuser("root", "root@example.org", "pw-not-secret-123")
    page, violations = browser_page, []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)

    def visit(path: str) -> Any:
        response = page.goto(live_server.url + path if path.startswith("/") else path, timeout=60_000)
        assert response is not None and response.ok, path
        assert "default-src 'self'" in response.headers["content-security-policy"], path
        return response

    for path in ("/", "/models/", model_card_url("sepsis", "1.1.2"), "/admin/login/"):
        visit(path)
    page.fill("#id_username", "root")
    page.fill("#id_password", "pw-not-secret-123")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/", timeout=60_000)
    visit("/admin/cds_hooks/issuedcard/")
    assert page.locator("#alert-burden").count() == 1
    align = page.eval_on_selector("#alert-burden th.num", "e => getComputedStyle(e).textAlign")
    assert align == "right"  # the stylesheet that used to be inline still applies
    visit(f"/sandbox/ehr/?q={patient_id}")
    page.click(f"a[href$='/patients/{patient_id}']")
    page.get_by_role("button", name="Launch Stratify").click()
    page.frame_locator("iframe[name=sidebar]").locator(".sb-top").wait_for(timeout=60_000)
    assert violations == []
