"""Real browser (Playwright + Debian's chromium): EHR simulator -> open a patient -> launch -> sidebar screenshot."""

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

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
def browser_page() -> Any:
    """A chromium page 1280x900 (the simulator puts the app in a ~380 px sidebar frame)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium (scripts/system_deps.sh does it)")
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        yield page
        browser.close()


def _save(path: Path) -> None:
    target = os.environ.get("STRATIFY_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def test_launch_from_the_ehr_simulator_renders_the_sidebar(
    live_server: Any, settings: Any, tmp_path: Path, sandbox_patient_loader: Any, browser_page: Any
) -> None:
    from django.core.management import call_command

    settings.PUBLIC_BASE_URL = live_server.url
    call_command("install_models", verbosity=0)
    call_command("sandbox_setup", verbosity=0)
    call_command("smart_demo_setup", verbosity=0)
    patient_id = sandbox_patient_loader()
    page = browser_page
    page.goto(f"{live_server.url}/sandbox/ehr/?q={patient_id}", timeout=60_000)
    page.click(f"a[href$='/patients/{patient_id}']")
    page.get_by_role("button", name="Launch Stratify").click()
    frame = page.frame_locator("iframe[name=sidebar]")
    frame.locator(".sb-top").wait_for(timeout=60_000)
    frame.locator("a", has_text="Model card:").first.focus()  # keyboard: links are reachable, visibly focused
    sidebar_shot = tmp_path / "smart_sidebar.png"
    page.locator("iframe[name=sidebar]").screenshot(path=str(sidebar_shot))
    page_shot = tmp_path / "smart_sidebar_in_ehr.png"
    page.screenshot(path=str(page_shot), full_page=False)
    _save(sidebar_shot)
    _save(page_shot)
    app = page.frame(name="sidebar")
    assert app is not None and app.url == f"{live_server.url}/smart/app"
    panels = frame.locator(".sb-panel")
    assert panels.count() >= 1, app.content()[:3000]
    assert frame.locator("a", has_text="Model card:").count() == panels.count()
    assert sidebar_shot.stat().st_size > 10_000
