"""The sandbox FHIR server's one exception -> OperationOutcome mapping, and its JSON responses.

FHIR clients expect an OperationOutcome on every error (R4 http.html "Error handling"), so the
FHIR views answer errors here instead of with the project's `{"message","code","extra"}` shape; the
status and message still come from the project's single mapping (`config.api_errors.error_body`).
"""

from typing import Any

import orjson
from django.http import HttpResponse

from config.api_errors import error_body
from config.errors import ApplicationError

FHIR_JSON = "application/fhir+json"

# Issue type per HTTP status (R4 valueset-issue-type) when the exception names none.
_ISSUE_BY_STATUS = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    412: "conflict",
    422: "processing",
}


def operation_outcome(
    diagnostics: str, *, code: str = "processing", severity: str = "error", expression: list[str] | None = None
) -> dict[str, Any]:
    """A one-issue OperationOutcome."""
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = expression
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def _field_issues(fields: Any, code: str) -> list[dict[str, Any]]:
    if not isinstance(fields, list):
        return []
    issues = []
    for item in fields:
        if isinstance(item, dict) and "msg" in item:
            issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": str(item["msg"])}
            if item.get("loc"):
                issue["expression"] = [str(item["loc"])]
            issues.append(issue)
    return issues


def exception_outcome(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """(HTTP status, OperationOutcome) for any exception."""
    status, body = error_body(exc)
    default = "exception" if status >= 500 else _ISSUE_BY_STATUS.get(status, "processing")
    code = getattr(exc, "issue_code", default) if isinstance(exc, ApplicationError) else default
    outcome = operation_outcome(body["message"], code=code, severity="fatal" if status >= 500 else "error")
    extra = body.get("extra") or {}
    outcome["issue"] += _field_issues(extra.get("fields"), code)
    if extra.get("request_id"):
        outcome["issue"][0]["diagnostics"] += f" (request id {extra['request_id']})"
    return status, outcome


def fhir_json(
    payload: dict[str, Any] | bytes, *, status: int = 200, headers: dict[str, str] | None = None
) -> HttpResponse:
    """A FHIR JSON response from a dict or from already-serialized bytes."""
    content = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    response = HttpResponse(content, status=status, content_type=FHIR_JSON)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def outcome_response(exc: BaseException, *, had_token: bool = False) -> HttpResponse:
    """The HTTP answer to an exception raised while serving a FHIR request (RFC 6750 on 401)."""
    status, outcome = exception_outcome(exc)
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="sandbox-fhir"' + (', error="invalid_token"' if had_token else "")
    return fhir_json(outcome, status=status, headers=headers)
