"""CORS for browser CDS clients (CDS Hooks 2.0 "CORS"): preflight and actual requests on discovery, services and
feedback only, checked over HTTP and from a real Chromium page served from a second loopback origin."""

import os
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from cds_hooks.models import TrustedCdsClient
from tests.cds_hooks.conftest import SandboxPatient, TokenFactory, fhir_server_trust

ORIGIN = "http://ehr-browser.example"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _preflight(path: str, origin: str = ORIGIN) -> Any:
    return Client().options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/cds-services", "/cds-services/stratify-news2", "/cds-services/stratify-news2/feedback"]
)
def test_preflight_answers_on_cds_paths(path: str) -> None:
    response = _preflight(path)
    assert response.status_code == 200  # was 405: require_GET/require_POST refused OPTIONS
    assert response["Access-Control-Allow-Origin"] == "*"
    assert {"authorization", "content-type"} <= {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.django_db
def test_discovery_carries_allow_origin() -> None:
    response = Client().get("/cds-services", HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 200 and response["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/admin/login/",
        "/smart/app",
        "/smart/launch",
        "/sandbox/auth/authorize",
        "/sandbox/auth/token",
        "/sandbox/ehr/",
        "/cds-services/x/feedback/extra",
    ],
)
def test_never_on_other_pages(path: str) -> None:
    assert "Access-Control-Allow-Origin" not in Client().get(path, HTTP_ORIGIN=ORIGIN)
    assert "Access-Control-Allow-Origin" not in _preflight(path)


@pytest.mark.django_db
def test_configured_origins_only(settings: Any) -> None:
    settings.CORS_ALLOW_ALL_ORIGINS = False
    settings.CORS_ALLOWED_ORIGINS = ["https://ehr.example.org"]
    assert _preflight("/cds-services", "https://ehr.example.org")["Access-Control-Allow-Origin"] == (
        "https://ehr.example.org"
    )
    assert "Access-Control-Allow-Origin" not in _preflight("/cds-services", ORIGIN)


# --- a browser-based CDS client on another origin -----------------------------------------------------

PAGE = b"<!doctype html><html><head><title>CDS client</title></head><body>browser CDS client</body></html>"


@pytest.fixture
def client_origin() -> Iterator[str]:
    """A second loopback origin (127.0.0.2, its own port) serving the CDS client's page."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.2", 0), Page)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.2:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


FETCH_SCRIPT = """async ([base, service, token, body]) => {
  const discovery = await (await fetch(base + '/cds-services')).json();
  const answer = await fetch(base + '/cds-services/' + service, {method: 'POST', body: JSON.stringify(body),
      headers: {'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json'}});
  return {services: discovery.services.map(s => s.id), status: answer.status, cards: (await answer.json()).cards,
          origin: window.location.origin};
}"""


@pytest.mark.browser
@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_browser_client_on_another_origin_reads_cards(
    live_server: Any,
    settings: Any,
    models_installed: None,
    trusted_client: TrustedCdsClient,
    make_token: TokenFactory,
    sandbox_patient: SandboxPatient,
    client_origin: str,
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium (scripts/system_deps.sh does it)")
    from playwright.sync_api import sync_playwright

    settings.PUBLIC_BASE_URL = live_server.url  # the JWT's aud
    service = "stratify-news2"
    fhir_server_trust(sandbox_patient.fhir_base)
    body = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": sandbox_patient.fhir_base,
        "fhirAuthorization": {
            "access_token": sandbox_patient.token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.rs",
            "subject": "stratify-cds",
        },
        "context": {"userId": "Practitioner/123", "patientId": sandbox_patient.patient_id},
    }
    token = make_token(f"/cds-services/{service}")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(client_origin + "/client.html")
            result = page.evaluate(FETCH_SCRIPT, [live_server.url, service, token, body])
        finally:
            browser.close()
    assert result["origin"] == client_origin and client_origin.split(":")[1] != live_server.url.split(":")[1]
    assert service in result["services"] and result["status"] == 200
    [card] = result["cards"]
    assert card["summary"].startswith("NEWS2") and card["indicator"] in {"info", "warning", "critical"}
