"""Thin views: EHR and standalone launch, the OAuth callback (which opens the sidebar), and our public JWKS."""
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from audit.models import AuditRecord
from audit.services import audit_record_create
from smart_launch import keys, selectors, services
from smart_launch.framing import launch_page


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
    audit_record_create(action=AuditRecord.Action.SMART_LAUNCH, actor=smart.fhir_user, patient_id=smart.patient,
                        actor_detail={"fhirUser": smart.fhir_user, "tenant": smart.tenant},
                        detail={"iss": smart.registration.iss, "client_id": smart.registration.client_id,
                                "scope": smart.scope, "encounter": bool(smart.encounter),
                                "app_context": bool(smart.app_context)})
    return HttpResponseRedirect(reverse("sidebar:app"))


@csrf_exempt  # GET only: another method gets the 405 in the error shape, not a CSRF refusal
@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    """Our public keys (active and recently retired) for private_key_jwt verification, by kid."""
    response = JsonResponse(keys.public_jwks())
    response["Cache-Control"] = "public, max-age=300"
    return response
