"""Thin views: EHR and standalone launch, the OAuth callback (which opens the sidebar), sign-out, our public JWKS."""

import hmac

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from audit.models import AuditRecord
from audit.services import audit_record_create
from smart_launch import keys, selectors, services
from smart_launch.errors import SessionExpired
from smart_launch.framing import launch_page


@require_GET
@launch_page()
def launch(request: HttpRequest) -> HttpResponse:
    """EHR launch: `iss` + `launch` -> redirect to the EHR's authorization endpoint."""
    url = services.launch_begin(
        session=request.session, iss=request.GET.get("iss"), launch=request.GET.get("launch"), standalone=False
    )
    return HttpResponseRedirect(url)


@require_GET
@launch_page()
def launch_standalone(request: HttpRequest) -> HttpResponse:
    """Standalone launch: pick a registered EHR (form), then the same authorization flow."""
    if "iss" not in request.GET:
        return render(request, "smart_launch/standalone.html", {"registrations": selectors.registrations_enabled()})
    url = services.launch_begin(session=request.session, iss=request.GET.get("iss"), launch=None, standalone=True)
    return HttpResponseRedirect(url)


@require_GET
@launch_page()
def callback(request: HttpRequest) -> HttpResponse:
    """The EHR's redirect back: finish the launch, audit it, open the sidebar."""
    smart = services.launch_complete(session=request.session, params=request.GET.dict())
    services.launch_session_rotate(session=request.session, smart=smart)
    audit_record_create(
        action=AuditRecord.Action.SMART_LAUNCH,
        actor=smart.fhir_user,
        patient_id=smart.patient,
        actor_detail={"fhirUser": smart.fhir_user, "tenant": smart.tenant},
        detail={
            "iss": smart.registration.iss,
            "client_id": smart.registration.client_id,
            "scope": smart.scope,
            "encounter": bool(smart.encounter),
            "app_context": bool(smart.app_context),
        },
    )
    return HttpResponseRedirect(reverse("sidebar:app"))


@csrf_exempt  # framed cross-site: no CSRF cookie; the form's token is bound to the session instead
@require_POST
@launch_page()
def signout(request: HttpRequest) -> HttpResponse:
    """The sidebar's sign-out: the launch's tokens are forgotten and the browser session emptied."""
    if not hmac.compare_digest(request.POST.get("token", ""), services.signout_token(request.session)):
        raise SessionExpired("This sign-out request did not come from your sidebar.")
    smart = services.smart_session_end(session=request.session)
    if smart is not None:
        audit_record_create(
            action=AuditRecord.Action.SMART_LAUNCH,
            actor=smart.fhir_user,
            patient_id=smart.patient,
            detail={"step": "signout", "iss": smart.registration.iss, "session": str(smart.id)},
        )
    return render(request, "smart_launch/signed_out.html")


@csrf_exempt  # GET only: another method gets the 405 in the error shape, not a CSRF refusal
@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    """Our public keys (active and recently retired) for private_key_jwt verification, by kid."""
    response = JsonResponse(keys.public_jwks())
    response["Cache-Control"] = "public, max-age=300"
    return response
