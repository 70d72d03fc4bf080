"""The one error shape for the exceptions the views of tests/test_errors.py do not raise: Django's and DRF's
validation errors, throttling, and errors raised outside any view (Django's 400/403/500 handlers)."""

import json

from django.core.exceptions import PermissionDenied, SuspiciousOperation, ValidationError
from django.core.handlers.exception import response_for_exception
from django.test import Client, RequestFactory
from rest_framework import exceptions as drf

from config.api_errors import api_exception_handler, error_body

SHAPE = {"message", "code", "extra"}


class MappingTests:
    def test_django_validation_error_lists_its_messages(self) -> None:
        status, body = error_body(ValidationError(["Too long.", "Not a date."]))
        assert (status, body) == (
            400,
            {
                "message": "The request is invalid.",
                "code": "invalid",
                "extra": {"fields": ["Too long.", "Not a date."]},
            },
        )

    def test_drf_field_errors_go_under_fields(self) -> None:
        status, body = error_body(drf.ValidationError({"threshold": ["A number is required."]}))
        assert status == 400 and body["message"] == "The request is invalid." and body["code"] == "invalid"
        assert body["extra"] == {"fields": {"threshold": ["A number is required."]}}

    def test_a_suspicious_request_is_400_without_detail(self) -> None:
        assert error_body(SuspiciousOperation("header smuggling at line 3")) == (
            400,
            {"message": "The request is invalid.", "code": "bad_request", "extra": {}},
        )

    def test_throttled_answers_say_when_to_retry(self) -> None:
        response = api_exception_handler(drf.Throttled(wait=42), {})
        assert response.status_code == 429 and response["Retry-After"] == "42"
        assert response.data["code"] == "throttled"
        assert not api_exception_handler(drf.Throttled(), {}).has_header("Retry-After")


class OutsideAViewTests:
    """Errors raised before or around a view reach Django's handlers (config.urls handler400/403/500)."""

    def test_a_host_not_allowed_is_400_in_shape(self, client: Client) -> None:
        response = client.get("/healthz", HTTP_HOST="evil.example")
        assert response.status_code == 400 and response.json() == {
            "message": "The request is invalid.",
            "code": "bad_request",
            "extra": {},
        }

    def test_permission_denied_outside_a_view_is_403_in_shape(self, rf: RequestFactory) -> None:
        response = response_for_exception(rf.get("/anything"), PermissionDenied("middleware said no"))
        assert response.status_code == 403 and json.loads(response.content)["code"] == "permission_denied"
        assert b"middleware said no" not in response.content

    def test_a_crash_outside_a_view_is_500_with_the_request_id_only(self, rf: RequestFactory) -> None:
        response = response_for_exception(rf.get("/anything"), RuntimeError("secret internals"))
        body = json.loads(response.content)
        assert response.status_code == 500 and set(body) == SHAPE and body["code"] == "server_error"
        assert set(body["extra"]) == {"request_id"} and b"secret internals" not in response.content
