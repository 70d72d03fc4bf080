"""The one error shape: our exceptions, DRF's, pydantic's and unhandled ones."""

import logging
from typing import NoReturn

import pydantic
import pytest
from django.http import HttpRequest
from django.test import Client
from django.urls import path
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from config import errors
from config.urls import urlpatterns as project_urls


class _Body(pydantic.BaseModel):
    hook: str
    count: int


@api_view(["POST"])
def _validate(request: Request) -> Response:
    body = _Body.model_validate(request.data)
    return Response({"hook": body.hook})


@api_view(["GET"])
def _raise(request: Request, kind: str) -> Response:
    raise {
        "412": errors.FhirDataUnavailable(extra={"missing": ["Observation"]}),
        "502": errors.UpstreamFhirError(extra={"upstream_status": 503}),
        "503": errors.ServiceNotReady("Model sepsis is not ready."),
        "401": errors.AuthenticationFailed(),
        "500": RuntimeError("secret internals"),
    }[kind]


def _plain(request: HttpRequest) -> NoReturn:
    raise errors.NotFound("No such assessment.")


def _plain_crash(request: HttpRequest) -> NoReturn:
    raise ZeroDivisionError("internal detail")


urlpatterns = [
    path("api/test/validate", _validate),
    path("api/test/raise/<str:kind>", _raise),
    path("plain", _plain),
    path("plain-crash", _plain_crash),
    *project_urls,
]


@pytest.mark.urls("tests.test_errors")
@pytest.mark.django_db
class ErrorShapeTests:
    @pytest.mark.parametrize(
        "kind,status,code",
        [
            ("412", 412, "fhir_data_unavailable"),
            ("502", 502, "upstream_fhir_error"),
            ("503", 503, "not_ready"),
            ("401", 401, "not_authenticated"),
        ],
    )
    def test_application_errors_map_to_status(self, client: Client, kind: str, status: int, code: str) -> None:
        response = client.get(f"/api/test/raise/{kind}")
        assert response.status_code == status
        body = response.json()
        assert set(body) == {"message", "code", "extra"}
        assert body["code"] == code

    def test_pydantic_validation_is_400_with_fields(self, client: Client) -> None:
        response = client.post(
            "/api/test/validate", {"hook": "patient-view", "count": "x"}, content_type="application/json"
        )
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "invalid"
        assert body["extra"]["fields"][0]["loc"] == "count"

    def test_malformed_json_is_400(self, client: Client) -> None:
        response = client.post("/api/test/validate", "{not json", content_type="application/json")
        assert response.status_code == 400
        assert response.json()["code"] == "parse_error"

    def test_wrong_method_is_405_in_shape(self, client: Client) -> None:
        response = client.get("/api/test/validate")
        assert response.status_code == 405
        assert response.json()["code"] == "method_not_allowed"

    def test_unhandled_error_is_500_with_request_id_and_no_internals(
        self, client: Client, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.ERROR, logger="stratify.errors"):
            response = client.get("/api/test/raise/500", HTTP_X_REQUEST_ID="req-12345678")
        assert response.status_code == 500
        body = response.json()
        assert body["extra"]["request_id"] == "req-12345678"
        assert "secret internals" not in response.content.decode()
        assert any("unhandled error" in r.message for r in caplog.records)

    def test_plain_view_errors_use_the_shape(self, client: Client) -> None:
        response = client.get("/plain")
        assert response.status_code == 404
        assert response.json()["message"] == "No such assessment."

    def test_plain_view_crash_never_shows_a_trace(self, client: Client, settings) -> None:
        settings.DEBUG = True
        response = client.get("/plain-crash")
        assert response.status_code == 500
        assert "ZeroDivisionError" not in response.content.decode()

    def test_browser_gets_an_html_error_page(self, client: Client) -> None:
        response = client.get("/plain", HTTP_ACCEPT="text/html")
        assert response.status_code == 404
        assert b"No such assessment." in response.content
        assert b"Request id" in response.content

    def test_unknown_url_is_404_in_shape(self, client: Client) -> None:
        response = client.get("/no/such/thing")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"

    def test_bad_request_id_header_is_replaced(self, client: Client) -> None:
        response = client.get("/healthz", HTTP_X_REQUEST_ID="<script>")
        assert response["X-Request-ID"] != "<script>"
        assert len(response["X-Request-ID"]) == 32


handler400 = "config.api_errors.handler400"
handler403 = "config.api_errors.handler403"
handler404 = "config.api_errors.handler404"
handler500 = "config.api_errors.handler500"


def test_application_errors_survive_pickling() -> None:
    """Celery pickles a task's exception: a subclass with keyword-only arguments keeps its class, code and extra."""
    import pickle

    from smart_launch.errors import DiscoveryUnavailable

    error = DiscoveryUnavailable("EHR down", what_to_do="Try later.", extra={"iss": "https://ehr/fhir"})
    restored = pickle.loads(pickle.dumps(error))  # noqa: S301  (our own bytes)
    assert type(restored) is DiscoveryUnavailable and restored.code == "smart_discovery_failed"
    assert (restored.message, restored.extra, restored.retryable) == (error.message, error.extra, True)
