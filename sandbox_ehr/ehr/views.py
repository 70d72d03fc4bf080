"""Thin views of the EHR simulator: patient list, chart (with CDS cards), discharge, launch, JWKS, SMART style."""

import re

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from config.errors import ValidationFailed
from fhirapp.errors import UpstreamFhirError
from sandbox_ehr.auth.selectors import PatientSummary, patient_get, patient_list
from sandbox_ehr.auth.signing import jwks as sandbox_jwks
from sandbox_ehr.ehr.cds import ENCOUNTER_DISCHARGE, PATIENT_VIEW, hook_context, hook_fire
from sandbox_ehr.ehr.chart import chart_load, discharge_refusal, ehr_fhir_client
from sandbox_ehr.ehr.launch import default_app_url, ehr_launch_url
from sandbox_ehr.ehr.replay import SECONDS_PER_HOUR, replay_start, replay_status
from sandbox_ehr.ehr.style import SMART_STYLE

PAGE_SIZE = 25
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


@require_GET
def patients(request: HttpRequest) -> HttpResponse:
    """Patient list with search and paging (PhysioNet ICU stays first)."""
    query = request.GET.get("q", "").strip()[:100]
    page = max(1, int(request.GET.get("page", "1"))) if request.GET.get("page", "1").isdigit() else 1
    rows, total = patient_list(query=query, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return render(
        request,
        "sandbox_ehr/patients.html",
        {
            "patients": rows,
            "total": total,
            "query": query,
            "page": page,
            "has_next": page * PAGE_SIZE < total,
            "has_prev": page > 1,
        },
    )


def _patient_or_404(patient_id: str) -> PatientSummary:
    patient = patient_get(patient_id)
    if patient is None:
        raise Http404
    return patient


def _chart_page(
    request: HttpRequest, patient: PatientSummary, hook_name: str, encounter_id: str | None = None
) -> HttpResponse:
    """Read the chart, fire `hook_name` for its encounter (or the one given) and render the page with the cards."""
    client = ehr_fhir_client()
    data = chart_load(client, patient.id)
    encounter_id = encounter_id or (data.encounter or {}).get("id")
    # A deceased patient's chart asks for no risk scores: one note instead of a "not scored" card per service.
    hook = (
        None
        if patient.deceased
        else hook_fire(hook_name, hook_context(patient_id=patient.id, encounter_id=encounter_id), fhir=client)
    )
    return render(
        request,
        "sandbox_ehr/chart.html",
        {
            "patient": patient,
            "chart": data,
            "encounter_id": encounter_id,
            "hook": hook,
            "discharge_refusal": discharge_refusal(data.encounter, patient_id=patient.id, deceased=patient.deceased),
            "app_url": default_app_url(),
            "replay": replay_status(patient.id),
            "replay_seconds": SECONDS_PER_HOUR,
        },
    )


@require_GET
def chart(request: HttpRequest, patient_id: str) -> HttpResponse:
    """A patient's chart: header, recent vitals, and the patient-view CDS cards (called server-side)."""
    return _chart_page(request, _patient_or_404(patient_id), PATIENT_VIEW)


@require_POST
def discharge(request: HttpRequest, patient_id: str) -> HttpResponse:
    """Simulated discharge: fire `encounter-discharge` for the posted encounter and show its cards.

    Only an in-progress inpatient encounter of a living patient is discharged (`discharge_refusal`); only the
    hook is simulated: the Encounter in the sandbox FHIR server keeps its status.
    """
    patient = _patient_or_404(patient_id)
    encounter_id = request.POST.get("encounter", "").strip()
    if not FHIR_ID.match(encounter_id):
        raise ValidationFailed(
            "Discharge needs the id of the encounter to discharge.",
            extra={"hint": "Open the chart again and use its Discharge button."},
        )
    try:
        encounter = ehr_fhir_client().read("Encounter", encounter_id)
    except UpstreamFhirError:
        encounter = None
    refusal = discharge_refusal(encounter, patient_id=patient.id, deceased=patient.deceased)
    if refusal:
        raise ValidationFailed(
            f"Nothing to discharge: {refusal}",
            extra={"hint": "Discharge is for an in-progress inpatient encounter of a living patient."},
        )
    return _chart_page(request, patient, ENCOUNTER_DISCHARGE, encounter_id)


@require_POST
def replay(request: HttpRequest, patient_id: str) -> HttpResponse:
    """Replay vitals: stream the patient's PhysioNet septic stay into the sandbox hour by hour (accelerated)."""
    patient = _patient_or_404(patient_id)
    if replay_start(patient.id) is None:
        raise ValidationFailed(
            "Only a septic PhysioNet stay can be replayed.",
            extra={"hint": "Open a patient marked septic in the patient list."},
        )
    return HttpResponseRedirect(reverse("sandbox_sim:chart", args=[patient.id]))


@require_POST
def launch(request: HttpRequest, patient_id: str) -> HttpResponse:
    """EHR launch into the sidebar frame: a new launch value, then the app's launch URL (the form targets the frame)."""
    _patient_or_404(patient_id)
    url = ehr_launch_url(
        app_url=request.POST.get("url", "") or default_app_url(),
        patient_id=patient_id,
        encounter_id=request.POST.get("encounter") or None,
        app_context=request.POST.get("app_context", ""),
    )
    return HttpResponseRedirect(url)


@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    """Public keys of the sandbox: the CDS-client ES384 key and the id_token RS256 key."""
    return JsonResponse(
        sandbox_jwks(), headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}
    )


@require_GET
def smart_style(request: HttpRequest) -> JsonResponse:
    """The `smart_style_url` document."""
    return JsonResponse(SMART_STYLE, headers={"Access-Control-Allow-Origin": "*"})
