"""The launch failure matrix through the real views: every failure is a clear page with what to do, and audited."""

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from audit.models import AuditRecord
from smart_launch.client import SmartConfiguration, _cache_key
from smart_launch.models import AuthorizationRequest, EhrRegistration

pytestmark = pytest.mark.django_db
# Any values: unpacked as **extra (WSGI environ) into Client.get, whose other keywords are typed.
HTML: dict[str, Any] = {"HTTP_ACCEPT": "text/html"}


def _start(browser: Client, iss: str) -> str:
    response = browser.get("/smart/launch", {"iss": iss, "launch": "abc"}, **HTML)
    assert response.status_code == 302, response.content
    return parse_qs(urlsplit(response["Location"]).query)["state"][0]


def _page(response: object) -> str:
    return response.content.decode()  # type: ignore[attr-defined]


def _last_audit() -> AuditRecord:
    record = AuditRecord.objects.order_by("-id").first()
    assert record is not None
    return record


class LaunchRequestTests:
    def test_redirects_to_authorize_with_pkce_and_binds_state(
        self, client: Client, registration: EhrRegistration, smart_config: SmartConfiguration
    ) -> None:
        response = client.get("/smart/launch", {"iss": registration.iss, "launch": "xyz"}, **HTML)
        assert response.status_code == 302
        query = {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}
        assert response["Location"].startswith(smart_config.authorization_endpoint)
        assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
        assert query["aud"] == registration.iss and query["launch"] == "xyz"
        assert len(query["state"]) >= 43  # 256 random bits, URL-safe base64
        assert query["scope"].startswith("launch openid fhirUser patient/Patient.rs")
        assert AuthorizationRequest.objects.filter(registration=registration, used_at__isnull=True).count() == 1

    def test_no_iss(self, client: Client, registration: EhrRegistration) -> None:
        response = client.get("/smart/launch", {"launch": "abc"}, **HTML)
        assert response.status_code == 400
        assert "did not say which FHIR server" in _page(response) and "What to do" in _page(response)
        assert _last_audit().action == "smart_launch" and _last_audit().outcome == "failure"

    def test_no_launch_parameter(self, client: Client, registration: EhrRegistration) -> None:
        response = client.get("/smart/launch", {"iss": registration.iss}, **HTML)
        assert response.status_code == 400 and "`launch`" in _page(response)

    def test_unknown_iss(self, client: Client, db: None) -> None:
        response = client.get("/smart/launch", {"iss": "https://unknown.example.org/fhir", "launch": "a"}, **HTML)
        assert response.status_code == 403
        assert "not registered" in _page(response) and "EHR registrations" in _page(response)

    def test_disabled_iss(self, client: Client, registration: EhrRegistration) -> None:
        registration.enabled = False
        registration.save()
        response = client.get("/smart/launch", {"iss": registration.iss, "launch": "a"}, **HTML)
        assert response.status_code == 403 and "switched off" in _page(response)

    def test_error_pages_may_be_framed_by_registered_ehrs(self, client: Client, registration: EhrRegistration) -> None:
        response = client.get("/smart/launch", {"launch": "abc"}, **HTML)
        assert "X-Frame-Options" not in response
        assert "frame-ancestors 'self' https://ehr.example.org" in response["Content-Security-Policy"]


class CallbackTests:
    def test_ehr_access_denied(
        self, client: Client, registration: EhrRegistration, smart_config: SmartConfiguration
    ) -> None:
        state = _start(client, registration.iss)
        response = client.get("/smart/callback", {"error": "access_denied", "state": state}, **HTML)
        assert response.status_code == 403 and "Access was declined" in _page(response)
        assert "approve access" in _page(response)
        assert AuthorizationRequest.objects.get().used_at is not None  # the state is burnt

    def test_ehr_invalid_scope(
        self, client: Client, registration: EhrRegistration, smart_config: SmartConfiguration
    ) -> None:
        state = _start(client, registration.iss)
        response = client.get(
            "/smart/callback",
            {"error": "invalid_scope", "state": state, "error_description": "no <b>Observation</b>"},
            **HTML,
        )
        assert response.status_code == 403 and "scopes" in _page(response)
        assert "<b>" not in _page(response)
        assert _last_audit().detail["error"] == "invalid_scope"

    def test_missing_state(self, client: Client, db: None) -> None:
        response = client.get("/smart/callback", {"code": "c"}, **HTML)
        assert response.status_code == 401 and "no `state`" in _page(response)

    def test_unknown_state(self, client: Client, db: None) -> None:
        response = client.get("/smart/callback", {"code": "c", "state": "forged"}, **HTML)
        assert response.status_code == 401 and "unknown `state`" in _page(response)

    def test_state_from_another_browser(
        self, client: Client, registration: EhrRegistration, smart_config: SmartConfiguration
    ) -> None:
        state = _start(client, registration.iss)
        response = Client().get("/smart/callback", {"code": "c", "state": state}, **HTML)
        assert response.status_code == 401 and "another browser session" in _page(response)
        assert AuthorizationRequest.objects.get().used_at is None  # not burnt by the stranger

    def test_replayed_state(
        self, client: Client, registration: EhrRegistration, smart_config: SmartConfiguration
    ) -> None:
        state = _start(client, registration.iss)
        AuthorizationRequest.objects.update(used_at=timezone.now())
        response = client.get("/smart/callback", {"code": "c", "state": state}, **HTML)
        assert response.status_code == 401 and "already used" in _page(response)

    def test_expired_state(
        self, client: Client, registration: EhrRegistration, smart_config: SmartConfiguration
    ) -> None:
        state = _start(client, registration.iss)
        AuthorizationRequest.objects.update(created_at=timezone.now() - timedelta(hours=1))
        response = client.get("/smart/callback", {"code": "c", "state": state}, **HTML)
        assert response.status_code == 401 and "expired" in _page(response)

    def test_token_endpoint_unreachable(
        self,
        client: Client,
        registration: EhrRegistration,
        smart_config: SmartConfiguration,
        client_keys: None,
        outbound_allowed: Any,
    ) -> None:
        # The token endpoint is the loopback discard port (nothing listens, registered so that the address
        # policy lets it be tried): a real failed exchange that never leaves this machine.
        outbound_allowed("http://127.0.0.1:9")
        cache.set(
            _cache_key("discovery", registration.iss),
            {**smart_config.__dict__, "token_endpoint": "http://127.0.0.1:9/token"},
            600,
        )
        state = _start(client, registration.iss)
        response = client.get("/smart/callback", {"code": "c", "state": state}, **HTML)
        assert response.status_code == 502 and "did not complete the code exchange" in _page(response)

    def test_no_smart_session(self, client: Client, db: None) -> None:
        response = client.get("/smart/app", **HTML)
        assert response.status_code == 401 and "no launched session" in _page(response)
        assert _last_audit().action == "sidebar_view" and _last_audit().outcome == "failure"
