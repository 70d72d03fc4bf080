"""Thin views: EHR and standalone launch, the OAuth callback, the sidebar, and our public JWKS."""
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET

from config.api_errors import error_html_response
from config.errors import ApplicationError
from fhirapp.services.audit import audit_record_create
from smart_launch import keys, selectors, services
from smart_launch.models import SmartSession
from smart_launch.pages import sidebar_context

View = Callable[..., HttpResponse]


def _framed(response: HttpResponse, *, ancestors: str, style_nonce: str = "") -> HttpResponse:
    """CSP for a page shown inside the EHR: who may frame it, and nothing loaded from elsewhere."""
    style = "'self'" + (f" 'nonce-{style_nonce}'" if style_nonce else "")
    response["Content-Security-Policy"] = (
        f"default-src 'self'; img-src 'self' data:; style-src {style}; script-src 'self'; "
        f"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}")
    return response


def launch_page(action: str = "smart_launch") -> Callable[[View], View]:
    """Launch-flow views: failures become a framed error page (with what to do) and an audit record."""
    def decorate(view: View) -> View:
        @wraps(view)
        @xframe_options_exempt
        @never_cache
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                response = view(request, *args, **kwargs)
            except ApplicationError as exc:
                audit_record_create(action=action, outcome="failure",
                                    detail={"step": view.__name__, "code": exc.code, "message": exc.message,
                                            "iss": str(request.GET.get("iss", ""))[:300],
                                            "error": str(exc.extra.get("error", ""))[:64]})
                response = error_html_response(request, exc)
            if "Content-Security-Policy" not in response:
                _framed(response, ancestors=selectors.frame_ancestors_all())
            return response
        return wrapped
    return decorate


@require_GET
@launch_page()
def launch(request: HttpRequest) -> HttpResponse:
    """EHR launch: `iss` + `launch` -> redirect to the EHR's authorization endpoint."""
    url = services.launch_begin(session=request.session, iss=request.GET.get("iss"),
                                launch=request.GET.get("launch"), standalone=False)
    return HttpResponseRedirect(url)


@require_GET
@launch_page()
def launch_standalone(request: HttpRequest) -> HttpResponse:
    """Standalone launch: pick a registered EHR (form), then the same authorization flow."""
    if "iss" not in request.GET:
        return render(request, "smart_launch/standalone.html",
                      {"registrations": selectors.registrations_enabled()})
    url = services.launch_begin(session=request.session, iss=request.GET.get("iss"), launch=None, standalone=True)
    return HttpResponseRedirect(url)


@require_GET
@launch_page()
def callback(request: HttpRequest) -> HttpResponse:
    """The EHR's redirect back: finish the launch, audit it, open the sidebar."""
    smart = services.launch_complete(session=request.session, params=request.GET.dict())
    audit_record_create(action="smart_launch", actor=smart.fhir_user, patient_id=smart.patient,
                        actor_detail={"fhirUser": smart.fhir_user, "tenant": smart.tenant},
                        detail={"iss": smart.registration.iss, "client_id": smart.registration.client_id,
                                "scope": smart.scope, "encounter": bool(smart.encounter),
                                "app_context": bool(smart.app_context)})
    return HttpResponseRedirect("/smart/app")


@require_GET
@launch_page(action="sidebar_view")
def app(request: HttpRequest) -> HttpResponse:
    """The clinician sidebar for the launched patient."""
    smart: SmartSession = services.smart_session_current(session=request.session)
    nonce = secrets.token_urlsafe(16)
    context = sidebar_context(smart, now=timezone.now())
    audit_record_create(action="sidebar_view", actor=smart.fhir_user, patient_id=smart.patient,
                        actor_detail={"fhirUser": smart.fhir_user, "tenant": smart.tenant},
                        detail={"iss": smart.registration.iss, "session": str(smart.id),
                                "models": [p.result.model_name for p in context["panels"]]})
    response = render(request, "smart_launch/app.html", {**context, "style_nonce": nonce})
    return _framed(response, ancestors=selectors.frame_ancestors_for(smart.registration), style_nonce=nonce)


@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    """Our public keys (active and recently retired) for private_key_jwt verification, by kid."""
    response = JsonResponse(keys.public_jwks())
    response["Cache-Control"] = "public, max-age=300"
    return response
