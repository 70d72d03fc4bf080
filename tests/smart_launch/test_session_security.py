"""The sidebar's session: rotated on launch (session fixation), bound to the launch's tokens, signed out on
request, and carried by its own cookie (never admin's). Real HTTP against the sandbox EHR (live_server)."""

import re
import time
from typing import Any

import pytest
import requests
from django.contrib.sessions.backends.db import SessionStore

from audit.models import AuditRecord
from smart_launch.models import SmartSession
from tests.smart_launch.test_launch_e2e import HTML, _ehr_launch

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _planted_session() -> str:
    """A session id the attacker owns (a real, stored session), to plant in the victim's browser."""
    store = SessionStore()
    store["attacker"] = True
    store.create()
    return str(store.session_key)


def test_a_planted_session_id_reads_nothing_after_the_launch(sandbox: dict[str, str], settings: Any) -> None:
    planted = _planted_session()
    victim = requests.Session()
    victim.cookies.set(settings.SESSION_COOKIE_NAME, planted, path="/")
    victim.cookies.set(settings.SIDEBAR_SESSION_COOKIE_NAME, planted, path="/smart/")
    response = _ehr_launch(sandbox, victim)
    assert response.status_code == 200 and response.url.endswith("/smart/app")
    callback = next(r for r in response.history if "/smart/callback" in r.url)
    assert f"{settings.SIDEBAR_SESSION_COOKIE_NAME}=" in callback.headers["Set-Cookie"]
    assert planted not in callback.headers["Set-Cookie"]  # a new id
    attacker = requests.Session()
    attacker.cookies.set(settings.SIDEBAR_SESSION_COOKIE_NAME, planted, path="/smart/")
    attacker.cookies.set(settings.SESSION_COOKIE_NAME, planted, path="/")
    stolen = attacker.get(f"{sandbox['base']}/smart/app", headers=HTML, timeout=60)
    assert stolen.status_code == 401 and sandbox["patient"] not in stolen.text


def test_the_sidebar_cookie_is_its_own_and_expires_with_the_launch(sandbox: dict[str, str], settings: Any) -> None:
    browser = requests.Session()
    response = _ehr_launch(sandbox, browser)
    callback = next(r for r in response.history if "/smart/callback" in r.url)
    set_cookie = callback.headers["Set-Cookie"]
    assert set_cookie.startswith(f"{settings.SIDEBAR_SESSION_COOKIE_NAME}=") and "Path=/smart/" in set_cookie
    assert settings.SESSION_COOKIE_NAME + "=" not in set_cookie
    max_age = int(re.search(r"Max-Age=(\d+)", set_cookie).group(1))  # type: ignore[union-attr]
    smart = SmartSession.objects.get()
    limit = (
        settings.SMART_SESSION_MAX_SECONDS
        if smart.refresh_token_encrypted
        else smart.expires_at.timestamp() - time.time() + 5
    )
    assert max_age <= limit < 14 * 24 * 3600  # not Django's two weeks


def test_in_production_the_sidebar_cookie_is_samesite_none_and_secure(sandbox: dict[str, str], settings: Any) -> None:
    settings.SIDEBAR_SESSION_COOKIE_SAMESITE, settings.SIDEBAR_SESSION_COOKIE_SECURE = "None", True
    launch = _ehr_launch(sandbox, requests.Session()).history[0]  # the launch stores its binding: a cookie
    set_cookie = launch.headers["Set-Cookie"]
    assert set_cookie.startswith(f"{settings.SIDEBAR_SESSION_COOKIE_NAME}=")
    assert "Path=/smart/" in set_cookie and "SameSite=None" in set_cookie and "Secure" in set_cookie


def test_admin_cookie_stays_lax_and_is_not_the_sidebars(
    sandbox: dict[str, str], settings: Any, django_user_model: Any
) -> None:
    django_user_model.objects.create_superuser("root", "root@example.org", "pw-not-secret-123")
    browser = requests.Session()
    login = f"{sandbox['base']}/admin/login/"
    browser.get(login, timeout=60)
    response = browser.post(
        login,
        data={
            "username": "root",
            "password": "pw-not-secret-123",
            "next": "/admin/",
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        },
        headers={"Referer": login},
        allow_redirects=False,
        timeout=60,
    )
    admin_cookie = response.raw.headers.getlist("Set-Cookie")
    [session_cookie] = [c for c in admin_cookie if c.startswith(settings.SESSION_COOKIE_NAME + "=")]
    assert "SameSite=Lax" in session_cookie and "Path=/;" in session_cookie
    assert not [c for c in admin_cookie if c.startswith(settings.SIDEBAR_SESSION_COOKIE_NAME)]


def test_sign_out_ends_the_launch(sandbox: dict[str, str]) -> None:
    browser = requests.Session()
    page = _ehr_launch(sandbox, browser)
    token = re.search(r'name="token" value="([0-9a-f]+)"', page.text)
    assert token, page.text[:2000]
    forged = browser.post(f"{sandbox['base']}/smart/signout", data={"token": "0" * 64}, headers=HTML, timeout=60)
    assert forged.status_code == 401 and SmartSession.objects.exists()
    signed_out = browser.post(
        f"{sandbox['base']}/smart/signout", data={"token": token.group(1)}, headers=HTML, timeout=60
    )
    assert signed_out.status_code == 200 and "Signed out" in signed_out.text
    assert not SmartSession.objects.exists()
    assert AuditRecord.objects.filter(action="smart_launch", detail__step="signout").exists()
    assert browser.get(f"{sandbox['base']}/smart/app", headers=HTML, timeout=60).status_code == 401
