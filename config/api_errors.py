"""The one place where exceptions become HTTP errors of the shape {"message", "code", "extra"}.

Used by DRF (`REST_FRAMEWORK["EXCEPTION_HANDLER"]`), by `ApplicationErrorMiddleware` for plain
Django views, and by the 400/403/404/500 handlers. A 500 never shows internals: it is logged with
the request id, which the body also carries.
"""

import logging
import sys
from typing import Any

import pydantic
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

from config.errors import DATABASE_ERRORS, ApplicationError, CsrfFailed, DatabaseUnavailable, MethodNotAllowed
from config.request_context import current_request_id

logger = logging.getLogger("stratify.errors")

# Machine clients only: never an HTML page here, even for a browser.
JSON_ONLY_PREFIXES = (
    "/cds-services",
    "/api/",
    "/realtime/v1/",
    "/sandbox/fhir",
    "/healthz",
    "/readyz",
    "/metrics",
    "/.well-known/",
)


def _pydantic_fields(exc: pydantic.ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": ".".join(str(p) for p in err["loc"]), "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]


def _drf_code(exc: drf_exceptions.APIException) -> str:
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code


def _drf_message(exc: drf_exceptions.APIException) -> tuple[str, dict[str, Any]]:
    detail = exc.detail
    if isinstance(detail, (dict, list)):
        return "The request is invalid.", {"fields": detail}
    return str(detail), {}


def error_body(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """Map any exception to (status, body); the single status mapping of the project."""
    if isinstance(exc, DATABASE_ERRORS):  # our database is down or dropped the connection
        logger.warning("database unavailable", exc_info=exc, extra={"request_id": current_request_id()})
        exc = DatabaseUnavailable()
    if isinstance(exc, ApplicationError):
        return exc.status_code, {"message": exc.message, "code": exc.code, "extra": exc.extra}
    if isinstance(exc, pydantic.ValidationError):
        return 400, {
            "message": "The request is invalid.",
            "code": "invalid",
            "extra": {"fields": _pydantic_fields(exc)},
        }
    if isinstance(exc, drf_exceptions.APIException):
        message, extra = _drf_message(exc)
        return exc.status_code, {"message": message, "code": _drf_code(exc), "extra": extra}
    if isinstance(exc, DjangoValidationError):
        return 400, {"message": "The request is invalid.", "code": "invalid", "extra": {"fields": exc.messages}}
    if isinstance(exc, Http404):
        return 404, {"message": "Not found.", "code": "not_found", "extra": {}}
    if isinstance(exc, DjangoPermissionDenied):
        return 403, {"message": "You do not have permission to do this.", "code": "permission_denied", "extra": {}}
    if isinstance(exc, SuspiciousOperation):
        return 400, {"message": "The request is invalid.", "code": "bad_request", "extra": {}}
    request_id = current_request_id()
    logger.error("unhandled error", exc_info=exc, extra={"request_id": request_id})
    return 500, {
        "message": "An internal error occurred; quote the request id when reporting it.",
        "code": "server_error",
        "extra": {"request_id": request_id},
    }


def _log_client_error(status: int, body: dict[str, Any]) -> None:
    if 400 <= status < 500:
        logger.info("client error", extra={"status": status, "code": body["code"]})


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF exception handler returning the project error shape for every exception."""
    status, body = error_body(exc)
    _log_client_error(status, body)
    response = Response(body, status=status)
    if isinstance(exc, drf_exceptions.Throttled):
        # djangorestframework-stubs declare `wait` only as an __init__ parameter; DRF sets it as an attribute.
        wait: float | None = exc.wait  # type: ignore[attr-defined]
        if wait is not None:
            response["Retry-After"] = str(int(wait))
    return response


def error_json_response(exc: BaseException) -> JsonResponse:
    """The same mapping for plain Django views and the project's error handlers."""
    status, body = error_body(exc)
    _log_client_error(status, body)
    return JsonResponse(body, status=status)


def error_html_response(request: HttpRequest, exc: BaseException) -> HttpResponse:
    """The same mapping rendered as a page for people (sidebar, sandbox EHR)."""
    status, body = error_body(exc)
    _log_client_error(status, body)
    return render(
        request, "error.html", {"status": status, "error": body, "request_id": current_request_id()}, status=status
    )


def error_response(request: HttpRequest, exc: BaseException) -> HttpResponse:
    """JSON for machines, a page for browsers outside the JSON-only prefixes."""
    accept = request.headers.get("Accept", "")
    if "text/html" in accept and not request.path.startswith(JSON_ONLY_PREFIXES):
        return error_html_response(request, exc)
    return error_json_response(exc)


def method_not_allowed_response(request: HttpRequest, allow: str) -> HttpResponse:
    """405 in the error shape, with the `Allow` header (RFC 9110 section 15.5.6)."""
    allowed = [m.strip() for m in allow.split(",") if m.strip()]
    response = error_response(
        request,
        MethodNotAllowed(
            f"{request.method} is not allowed here; use {', '.join(allowed) or 'another method'}.",
            extra={"allow": allowed},
        ),
    )
    response["Allow"] = ", ".join(allowed)
    return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """`CSRF_FAILURE_VIEW`: the error shape (JSON for machines and JSON-only paths) instead of Django's page."""
    return error_response(request, CsrfFailed(extra={"reason": reason[:200]} if reason else None))


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's bad-request handler."""
    return error_response(request, exception or SuspiciousOperation())


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's permission-denied handler."""
    return error_response(request, DjangoPermissionDenied())


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's not-found handler."""
    return error_response(request, Http404())


def handler500(request: HttpRequest) -> HttpResponse:
    """Django's server-error handler (an exception outside a view, e.g. in a middleware): our database being
    down is a 503 in the error shape; anything else the generic body with the request id."""
    exc = sys.exc_info()[1]
    if isinstance(exc, DATABASE_ERRORS):
        return error_response(request, exc)
    request_id = current_request_id()
    return JsonResponse(
        {
            "message": "An internal error occurred; quote the request id when reporting it.",
            "code": "server_error",
            "extra": {"request_id": request_id},
        },
        status=500,
    )
