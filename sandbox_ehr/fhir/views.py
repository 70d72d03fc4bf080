"""Thin views of the sandbox FHIR R4 REST API (JSON only): each parses HTTP and calls one service.

Every FHIR endpoint goes through `fhir_endpoint`: bearer authentication (the sandbox's access grants), armed faults
(sandbox fault injection), the OperationOutcome error mapping and one log line per request. Access is logged,
not audited: auditing is the EHR's side, and the product audits its own reads.
"""

import logging
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import reverse
from django.utils.http import http_date
from django.views.decorators.csrf import csrf_exempt

from sandbox_ehr.auth.access import authenticate_request
from sandbox_ehr.fhir.bundles import bundle_process
from sandbox_ehr.fhir.capability import capability_statement
from sandbox_ehr.fhir.errors import InvalidResource, MethodNotAllowed, ResourceNotFound
from sandbox_ehr.fhir.faults import fault_take
from sandbox_ehr.fhir.outcomes import fhir_json, operation_outcome, outcome_response
from sandbox_ehr.fhir.patch import patch_operations
from sandbox_ehr.fhir.permissions import Grant
from sandbox_ehr.fhir.selectors import resource_read, resource_search
from sandbox_ehr.fhir.services import WriteResult, resource_create, resource_delete, resource_patch, resource_update
from sandbox_ehr.fhir.store import Stored
from sandbox_ehr.fhir.validation import etag_version, resource_type_check

logger = logging.getLogger("stratify.sandbox_fhir")
View = Callable[..., HttpResponseBase]


def base_url(request: HttpRequest) -> str:
    """Absolute FHIR base on the host the client used (next links and fullUrls must stay on it)."""
    return request.build_absolute_uri(reverse("sandbox_fhir:base")).rstrip("/")


def fhir_endpoint(*methods: str, public: bool = False) -> Callable[[View], View]:
    """Authenticate, honour faults, map errors to OperationOutcomes and log, around a FHIR view."""

    def decorate(view: View) -> View:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            started, grant = time.perf_counter(), None
            try:
                if request.method not in methods:
                    raise MethodNotAllowed(f"{request.method} is not supported here ({', '.join(methods)} are).")
                if not public:
                    grant = authenticate_request(request)
                fault = None if public else fault_take(request.method or "GET")
                response: HttpResponseBase
                if fault is not None:
                    response = fhir_json(
                        fault.body or operation_outcome("Injected fault.", code="transient"), status=fault.status
                    )
                else:
                    response = view(request, grant, *args, **kwargs)
            except Exception as exc:  # the one place FHIR errors become OperationOutcomes
                response = outcome_response(exc, had_token="Authorization" in request.headers)
            logger.info(
                "fhir %s %s -> %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "client_id": getattr(grant, "client_id", ""),
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            return response

        return wrapper

    return decorate


def _body(request: HttpRequest) -> Any:
    try:
        return orjson.loads(request.body)
    except orjson.JSONDecodeError as exc:
        raise InvalidResource(f"The body is not valid JSON: {exc}.") from exc


def _version_headers(stored: Stored, base: str) -> dict[str, str]:
    location = f"{base}/{stored.resource_type}/{stored.resource_id}/_history/{stored.version_id}"
    return {
        "ETag": f'W/"{stored.version_id}"',
        "Last-Modified": http_date(stored.last_updated.timestamp()),
        "Location": location,
    }


def _minimal(request: HttpRequest) -> bool:
    return "return=minimal" in request.headers.get("Prefer", "")


def _write_response(request: HttpRequest, result: WriteResult) -> HttpResponse:
    headers = _version_headers(result.stored, base_url(request))
    body = b"" if _minimal(request) else result.stored.content.encode()
    return fhir_json(body, status=result.status, headers=headers)


def _if_match(request: HttpRequest) -> int | None:
    return etag_version(request.headers.get("If-Match"))


@fhir_endpoint("GET", public=True)
def metadata(request: HttpRequest, grant: Grant | None) -> HttpResponse:
    """GET [base]/metadata: the CapabilityStatement (public)."""
    statement = capability_statement(
        base_url=base_url(request),
        software_version="0.1.0",
        auth_base_url=request.build_absolute_uri("/sandbox/auth").rstrip("/"),
    )
    return fhir_json(statement)


@fhir_endpoint("POST")
def system(request: HttpRequest, grant: Grant | None) -> HttpResponse:
    """POST [base]: a batch or transaction Bundle."""
    response = bundle_process(
        bundle=_body(request), grant=grant, base_url=base_url(request), representation=not _minimal(request)
    )
    return fhir_json(response)


@fhir_endpoint("GET", "POST")
def type_level(request: HttpRequest, grant: Grant | None, resource_type: str) -> HttpResponse:
    """GET [base]/[type]?params: search; POST [base]/[type]: create (If-None-Exist: conditional)."""
    resource_type_check(resource_type)
    if request.method == "GET":
        params = [(k, v) for k, values in request.GET.lists() for v in values]
        return fhir_json(
            resource_search(grant=grant, resource_type=resource_type, params=params, base_url=base_url(request))
        )
    result = resource_create(
        resource_type=resource_type,
        resource=_body(request),
        grant=grant,
        if_none_exist=request.headers.get("If-None-Exist"),
    )
    return _write_response(request, result)


def _delete_response(request: HttpRequest, resource_type: str, resource_id: str, grant: Grant | None) -> HttpResponse:
    """204 whether or not something was deleted (idempotent); the deletion's ETag when it was."""
    row = resource_delete(
        resource_type=resource_type, resource_id=resource_id, grant=grant, if_match=_if_match(request)
    )
    response = HttpResponse(status=204)
    if row is not None:
        response["ETag"] = f'W/"{row.version_id}"'
    return response


@fhir_endpoint("GET", "PUT", "PATCH", "DELETE")
def instance(request: HttpRequest, grant: Grant | None, resource_type: str, resource_id: str) -> HttpResponse:
    """GET [base]/[type]/[id]: read; PUT: update (or create with the client's id); PATCH: JSON Patch; DELETE."""
    resource_type_check(resource_type)
    if request.method == "DELETE":
        return _delete_response(request, resource_type, resource_id, grant)
    if request.method == "PUT":
        result = resource_update(
            resource_type=resource_type,
            resource_id=resource_id,
            resource=_body(request),
            grant=grant,
            if_match=_if_match(request),
        )
        return _write_response(request, result)
    if request.method == "PATCH":
        operations = patch_operations(request.content_type or "", request.body)
        result = resource_patch(
            resource_type=resource_type,
            resource_id=resource_id,
            operations=operations,
            grant=grant,
            if_match=_if_match(request),
        )
        return _write_response(request, result)
    row, content = resource_read(grant=grant, resource_type=resource_type, resource_id=resource_id)
    return fhir_json(
        content.encode(),
        headers={"ETag": f'W/"{row.version_id}"', "Last-Modified": http_date(row.last_updated.timestamp())},
    )


@fhir_endpoint("GET")
def version(
    request: HttpRequest, grant: Grant | None, resource_type: str, resource_id: str, version_id: str
) -> HttpResponse:
    """GET [base]/[type]/[id]/_history/[vid]: vread."""
    resource_type_check(resource_type)
    _row, content = resource_read(
        grant=grant, resource_type=resource_type, resource_id=resource_id, version_id=version_id
    )
    return fhir_json(content.encode(), headers={"ETag": f'W/"{version_id}"'})


@fhir_endpoint("GET", "POST", "PUT", "DELETE", "PATCH", public=True)
def unknown(request: HttpRequest, grant: Grant | None, rest: str) -> HttpResponse:
    """Any other path under the FHIR base: 404 as an OperationOutcome."""
    raise ResourceNotFound(f"No FHIR endpoint at '{rest}'.")
