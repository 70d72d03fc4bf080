"""Thin views of the EHR simulator: patient list, chart (with CDS cards), launch, JWKS, SMART style."""
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from sandbox_ehr.auth.selectors import patient_get, patient_list
from sandbox_ehr.auth.signing import jwks as sandbox_jwks
from sandbox_ehr.ehr.cds import patient_view_fire
from sandbox_ehr.ehr.chart import chart_load, ehr_fhir_client
from sandbox_ehr.ehr.launch import default_app_url, ehr_launch_url
from sandbox_ehr.ehr.style import SMART_STYLE

PAGE_SIZE = 25


@require_GET
def patients(request: HttpRequest) -> HttpResponse:
    """Patient list with search and paging (PhysioNet ICU stays first)."""
    query = request.GET.get("q", "").strip()[:100]
    page = max(1, int(request.GET.get("page", "1"))) if request.GET.get("page", "1").isdigit() else 1
    rows, total = patient_list(query=query, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return render(request, "sandbox_ehr/patients.html", {
        "patients": rows, "total": total, "query": query, "page": page,
        "has_next": page * PAGE_SIZE < total, "has_prev": page > 1})


@require_GET
def chart(request: HttpRequest, patient_id: str) -> HttpResponse:
    """A patient's chart: header, recent vitals, and the patient-view CDS cards (called server-side)."""
    patient = patient_get(patient_id)
    if patient is None:
        raise Http404
    client = ehr_fhir_client()
    data = chart_load(client, patient_id)
    encounter_id = (data.encounter or {}).get("id")
    hook = patient_view_fire(patient_id=patient_id, encounter_id=encounter_id, fhir=client)
    return render(request, "sandbox_ehr/chart.html", {
        "patient": patient, "chart": data, "encounter_id": encounter_id, "hook": hook,
        "app_url": default_app_url()})


@require_POST
def launch(request: HttpRequest, patient_id: str) -> HttpResponse:
    """EHR launch into the sidebar frame: a new launch value, then the app's launch URL (the form targets the frame)."""
    if patient_get(patient_id) is None:
        raise Http404
    url = ehr_launch_url(app_url=request.POST.get("url", "") or default_app_url(), patient_id=patient_id,
                         encounter_id=request.POST.get("encounter") or None,
                         app_context=request.POST.get("app_context", ""))
    return HttpResponseRedirect(url)


@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    """Public keys of the sandbox: the CDS-client ES384 key and the id_token RS256 key."""
    return JsonResponse(sandbox_jwks(), headers={"Cache-Control": "public, max-age=300",
                                                 "Access-Control-Allow-Origin": "*"})


@require_GET
def smart_style(request: HttpRequest) -> JsonResponse:
    """The `smart_style_url` document."""
    return JsonResponse(SMART_STYLE, headers={"Access-Control-Allow-Origin": "*"})
