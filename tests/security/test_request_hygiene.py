"""NUL characters, wrong methods and CSRF refusals all answer the one error shape, never a 500 or Django's page."""

from typing import Any

import orjson
import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _shape(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    body = orjson.loads(response.content)
    assert set(body) == {"message", "code", "extra"} and body["code"] == code, body
    return body


@pytest.mark.parametrize(
    "path", ["/models/?q=%00", "/smart/callback?code=x&state=%00", "/sandbox/ehr/?patient=a%00b", "/healthz?x=\x00"]
)
def test_nul_in_a_query_string_is_a_400_before_the_database(client: Client, path: str) -> None:
    body = _shape(client.get(path, HTTP_ACCEPT="application/json"), 400, "invalid")
    assert body["extra"]["where"] == "query"


def test_nul_in_a_form_body_is_a_400(client: Client) -> None:
    response = client.post(
        "/sandbox/auth/token",
        "grant_type=client_credentials&client_id=a%00b",
        content_type="application/x-www-form-urlencoded",
    )
    assert _shape(response, 400, "invalid")["extra"]["where"] == "body"


def test_nul_in_a_json_string_is_a_400_but_an_escaped_backslash_is_not(client: Client) -> None:
    path = "/cds-services/stratify-sepsis"
    hostile = b'{"hook": "patient-view", "hookInstance": "a\\u0000b", "context": {}}'
    assert _shape(client.post(path, hostile, content_type="application/json"), 400, "invalid")["extra"] == {
        "where": "body"
    }
    harmless = b'{"hook": "patient-view", "hookInstance": "a\\\\u0000b", "context": {}}'
    assert client.post(path, harmless, content_type="application/json").status_code == 401  # reached the JWT check


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", ""])
def test_a_json_nul_escape_is_a_400_whatever_the_declared_type(client: Client, content_type: str) -> None:
    """The CDS service parses its body as JSON whatever its type, and the snapshot relies on the body being
    searched (`nul_searched`): a body declared as something else must not slip a NUL past the search."""
    hostile = b'{"hook": "patient-view", "hookInstance": "a\\u0000b", "context": {}}'
    response = client.post("/cds-services/stratify-sepsis", hostile, content_type=content_type)
    assert _shape(response, 400, "invalid")["extra"] == {"where": "body"}


def test_nul_in_a_header_is_a_400(client: Client) -> None:
    response = client.get("/healthz", HTTP_X_FORWARDED_FOR="1.2.3.4\x00")
    assert _shape(response, 400, "invalid")["extra"]["where"] == "header X-Forwarded-For"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("get", "/cds-services/stratify-sepsis", "POST"),
        ("post", "/healthz", "GET"),
        ("delete", "/readyz", "GET"),
        ("put", "/cds-services", "GET"),
        ("post", "/.well-known/jwks.json", "GET"),
    ],
)
def test_a_wrong_method_is_a_405_in_the_error_shape_with_allow(method: str, path: str, allow: str) -> None:
    client = Client(enforce_csrf_checks=True)
    response = getattr(client, method)(path, HTTP_ACCEPT="text/html")
    body = _shape(response, 405, "method_not_allowed")
    assert response["Allow"] == allow and body["extra"]["allow"] == [allow]


def test_a_csrf_refusal_is_the_error_shape() -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post("/admin/login/", {"username": "a", "password": "b"}, HTTP_ACCEPT="application/json")
    _shape(response, 403, "csrf_failed")
    page = client.post("/admin/login/", {"username": "a", "password": "b"}, HTTP_ACCEPT="text/html")
    assert page.status_code == 403 and b"csrf_failed" in page.content  # our error page for people, same code
