"""Thin views of the sandbox authorization server: discovery, authorize, patient picker, token, introspect."""

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.errors import ApplicationError
from sandbox_ehr.auth import discovery, endpoints
from sandbox_ehr.auth.access import access_grant_for_token
from sandbox_ehr.auth.errors import AuthorizeRedirectError, InvalidClient
from sandbox_ehr.auth.flows import (
    AuthorizeRequest,
    authorize_approve,
    authorize_validate,
    launch_context,
    redirect_with,
    standalone_context,
)
from sandbox_ehr.auth.grants import client_authenticate, token_exchange, token_introspect
from sandbox_ehr.auth.selectors import patient_list

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oauth_error(exc: ApplicationError) -> JsonResponse:
    """RFC 6749 §5.2 error body (`error`, `error_description`) plus the project's message/code/extra."""
    body = {
        "error": exc.code,
        "error_description": exc.message,
        "message": exc.message,
        "code": exc.code,
        "extra": exc.extra,
    }
    return JsonResponse(body, status=exc.status_code, headers=_NO_STORE)


@require_GET
def smart_configuration(request: HttpRequest) -> JsonResponse:
    """`.well-known/smart-configuration` of the sandbox FHIR server."""
    return JsonResponse(discovery.smart_configuration(), headers={"Access-Control-Allow-Origin": "*"})


@require_GET
def openid_configuration(request: HttpRequest) -> JsonResponse:
    """OpenID Connect discovery for the id_token issuer (the FHIR base)."""
    return JsonResponse(discovery.openid_configuration(), headers={"Access-Control-Allow-Origin": "*"})


@csrf_exempt  # SMART "authorize-post": the client's page posts here cross-site; nothing here uses a session.
@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest) -> HttpResponse:
    """Authorization endpoint: EHR launch goes straight back with a code; standalone may pick a patient."""
    params = request.GET if request.method == "GET" else request.POST
    try:
        req = authorize_validate(params)
        context = launch_context(req)
        if context is None and req.needs_patient:
            return _picker(request, req)
        return HttpResponseRedirect(authorize_approve(req, context or standalone_context(req, None)))
    except AuthorizeRedirectError as exc:
        return HttpResponseRedirect(
            redirect_with(exc.redirect_uri, {"error": exc.code, "error_description": exc.message, "state": exc.state})
        )


def _picker(request: HttpRequest, req: AuthorizeRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:100]
    patients, total = patient_list(query=query, limit=50)
    return render(
        request,
        "sandbox_ehr/patient_picker.html",
        {
            "signed": req.sign(),
            "patients": patients,
            "total": total,
            "query": query,
            "client_id": req.client_id,
            "scope": req.scope,
            "practitioner": endpoints.practitioner_url(),
        },
    )


@require_POST
def authorize_patient(request: HttpRequest) -> HttpResponse:
    """The picker's answer (CSRF-protected): issue the code for the chosen patient."""
    req = AuthorizeRequest.unsign(request.POST.get("request", ""))
    context = standalone_context(req, request.POST.get("patient", "") or None)
    if req.needs_patient and not context.patient_id:
        return _picker(request, req)
    return HttpResponseRedirect(authorize_approve(req, context))


@csrf_exempt  # OAuth token endpoint: clients authenticate with assertions, not cookies.
@require_POST
def token(request: HttpRequest) -> JsonResponse:
    """Token endpoint (form-encoded, RFC 6749 §4.1.3 / §6 / §4.4)."""
    try:
        return JsonResponse(token_exchange(request.POST), headers=_NO_STORE)
    except ApplicationError as exc:
        return _oauth_error(exc)


def _introspection_caller(request: HttpRequest) -> None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        if "introspect" not in access_grant_for_token(header[7:].strip()).scopes:
            raise InvalidClient("This bearer token does not carry the introspect scope.")
        return
    client_authenticate(request.POST, audiences=(endpoints.introspect_url(), endpoints.token_url()), allow_public=False)


@csrf_exempt  # RFC 7662: protected by client authentication or a bearer token, never by cookies.
@require_POST
def introspect(request: HttpRequest) -> JsonResponse:
    """Token introspection (RFC 7662)."""
    try:
        _introspection_caller(request)
    except ApplicationError as exc:
        return _oauth_error(exc)
    body: dict[str, Any] = token_introspect(request.POST.get("token", ""))
    return JsonResponse(body, headers=_NO_STORE)
