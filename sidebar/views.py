"""The clinician sidebar page for the launched patient (framed by the EHR)."""

import secrets

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from audit.models import AuditRecord
from audit.services import audit_record_create
from sidebar.pages import sidebar_context
from smart_launch import selectors, services
from smart_launch.framing import framed, launch_page
from smart_launch.models import SmartSession


@require_GET
@launch_page(action=AuditRecord.Action.SIDEBAR_VIEW)
def app(request: HttpRequest) -> HttpResponse:
    """The clinician sidebar for the launched patient."""
    smart: SmartSession = services.smart_session_current(session=request.session)
    nonce = secrets.token_urlsafe(16)
    context = sidebar_context(smart, now=timezone.now())
    audit_record_create(
        action=AuditRecord.Action.SIDEBAR_VIEW,
        actor=smart.fhir_user,
        patient_id=smart.patient,
        actor_detail={"fhirUser": smart.fhir_user, "tenant": smart.tenant},
        detail={
            "iss": smart.registration.iss,
            "session": str(smart.id),
            "models": [p.result.model_name for p in context["panels"]],
        },
    )
    response = render(
        request,
        "sidebar/app.html",
        {**context, "style_nonce": nonce, "signout_token": services.signout_token(request.session)},
    )
    return framed(response, ancestors=selectors.frame_ancestors_for(smart.registration), style_nonce=nonce)
