"""The worklist page of a cohort (ranked, filtered, paged), its CSV export and "Run now"; thin over services.

Clinicians, admins and auditors (governance groups) read worklists; admins start runs. Each read of worklist rows
(the page, the CSV) is audited as the API's reads are (`population.services.reads`).
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from audit.governance import ADMIN, AUDITOR, CLINICIAN
from config.errors import ApplicationError, PermissionDenied
from population.charts import histogram, stacked
from population.models import Cohort, PatientResult, PopulationRun
from population.selectors import (
    BANDS,
    ENDED,
    WorklistFilter,
    band_counts_by_run,
    band_counts_by_unit,
    risk_histogram,
    run_active,
    run_latest,
    run_units,
    worklist_filter,
    worklist_rows,
)
from population.services.reads import worklist_read_audit
from population.services.runs import run_start
from scoring.presentation import age_text, clock_text, points_text
from scoring.types import probability_text

PAGE_SIZE = 50


def _require(request: HttpRequest, *groups: str) -> None:
    user = request.user
    if not (user.is_superuser or user.groups.filter(name__in=groups).exists()):
        raise PermissionDenied("Worklists are for the clinician, admin and auditor groups.")


def _filter(request: HttpRequest, cohort: Cohort) -> WorklistFilter:
    return worklist_filter(request.GET, cohort)


def value_text(row: PatientResult) -> str:
    """The score as every surface words it ("34%", "5 points", "Not scored")."""
    if row.scored and row.probability is not None:
        return probability_text(row.probability)
    if row.scored and row.points is not None:
        return points_text(row.points)
    return "Not scored"


def change_text(row: PatientResult) -> tuple[str, str]:
    """(arrow, words) of the change since the previous run."""
    if not row.previous_band and row.delta is None:
        return "", "new"
    arrow = {1: "▲", -1: "▼"}.get(
        row.band_change, "▲" if (row.delta or 0) > 0 else "▼" if (row.delta or 0) < 0 else "="
    )
    words = f"{row.previous_band or '—'} → {row.band or 'not scored'}"
    return arrow, words


def patient_link(cohort: Cohort, patient_id: str) -> str:
    """Where a worklist row drills down to: the EHR's chart of the patient, which opens the sidebar."""
    template = cohort.patient_url_template
    return template.replace("{patient_id}", quote(patient_id, safe="")) if template else ""


def _row(row: PatientResult, as_of: Any, cohort: Cohort) -> dict[str, Any]:
    arrow, words = change_text(row)
    age = age_text((as_of - row.data_time).total_seconds() / 3600) if row.data_time and as_of else "no data"
    return {
        "r": row,
        "value": value_text(row),
        "arrow": arrow,
        "change": words,
        "age": age,
        "reason": "" if row.scored else (row.reasons[0] if row.reasons else ""),
        "link": patient_link(cohort, row.patient_id),
    }


@login_required
def worklist(request: HttpRequest, slug: str) -> HttpResponse:
    """The ranked worklist of the cohort's latest completed run."""
    _require(request, CLINICIAN, ADMIN, AUDITOR)
    cohort = get_object_or_404(Cohort, slug=slug)
    run, wanted = run_latest(cohort), _filter(request, cohort)
    page = Paginator(worklist_rows(run, wanted) if run else PatientResult.objects.none(), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    worklist_read_audit(actor=_actor(request), cohort=cohort, run=run, wanted=wanted, rows=len(page), via="page")
    active = run_active(cohort)
    return render(
        request,
        "population/worklist.html",
        {
            "cohort": cohort,
            "run": run,
            "active": active,
            "wanted": wanted,
            "page": page,
            "bands": BANDS,
            "rows": [_row(r, run.transaction_time if run else None, cohort) for r in page],
            "units": run_units(run) if run else [],
            "history": cohort.runs.all()[:10],
            "run_time": clock_text(run.finished_at) if run and run.finished_at else "",
            "query": _query(request),
        },
    )


def _actor(request: HttpRequest) -> str:
    return request.user.get_username()


def _query(request: HttpRequest) -> str:
    """The filters of the request without its page (paging links add their own)."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
def worklist_csv(request: HttpRequest, slug: str) -> StreamingHttpResponse:
    """The filtered worklist as CSV (streamed: any size)."""
    _require(request, CLINICIAN, ADMIN, AUDITOR)
    cohort = get_object_or_404(Cohort, slug=slug)
    run, wanted = run_latest(cohort), _filter(request, cohort)
    rows = worklist_rows(run, wanted) if run else PatientResult.objects.none()
    worklist_read_audit(actor=_actor(request), cohort=cohort, run=run, wanted=wanted, rows=rows.count(), via="csv")
    response = StreamingHttpResponse(_csv_lines(rows), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{cohort.slug}-worklist.csv"'
    return response


def _csv_lines(rows: Any) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(
        [
            "rank",
            "patient_id",
            "name",
            "unit",
            "model",
            "score",
            "band",
            "top_driver",
            "previous_band",
            "delta",
            "data_time",
        ]
    )
    for rank, row in enumerate(rows.iterator(chunk_size=2000), start=1):
        yield writer.writerow(
            [
                rank,
                row.patient_id,
                row.patient_name,
                row.unit,
                row.model_name,
                value_text(row),
                row.band,
                row.top_driver,
                row.previous_band,
                "" if row.delta is None else f"{row.delta:.4g}",
                row.data_time.isoformat() if row.data_time else "",
            ]
        )


@login_required
@require_POST
def run_now(request: HttpRequest, slug: str) -> HttpResponse:
    """Start a run of the cohort now (admins)."""
    _require(request, ADMIN)
    cohort = get_object_or_404(Cohort, slug=slug)
    with contextlib.suppress(ApplicationError):  # a run is already going: the page shows it
        run_start(cohort=cohort, since="auto", trigger=PopulationRun.Trigger.MANUAL)
    return HttpResponseRedirect(reverse("population:worklist", args=[slug]) + f"?t={int(timezone.now().timestamp())}")


@login_required
def dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    """Plots of the cohort's latest run per model, band counts over the last runs, run history, live progress."""
    _require(request, CLINICIAN, ADMIN, AUDITOR)
    cohort = get_object_or_404(Cohort, slug=slug)
    run = run_latest(cohort)
    models = [
        {
            "name": model,
            "risk": histogram(risk_histogram(run, model) if run else []),
            "units": stacked(band_counts_by_unit(run, model) if run else []),
            "runs": stacked([(f"run {r.pk}", counts) for r, counts in band_counts_by_run(cohort, model)]),
        }
        for model in cohort.model_names
    ]
    context = {"cohort": cohort, "run": run, "models": models, "history": cohort.runs.all()[:10]}
    return render(request, "population/dashboard.html", {**context, "active": run_active(cohort)})


@login_required
def progress(request: HttpRequest, slug: str) -> JsonResponse:
    """The cohort's newest run as JSON, for the progress bar (polled by static/population/progress.js)."""
    _require(request, CLINICIAN, ADMIN, AUDITOR)
    cohort = get_object_or_404(Cohort, slug=slug)
    run = run_active(cohort) or cohort.runs.order_by("-created_at").first()
    if run is None:
        return JsonResponse({"run": None})
    fields = ("status", "progress", "chunks_done", "chunks_total", "patients_scored", "patients_total")
    return JsonResponse({"run": run.pk, "active": run.status not in ENDED, **{f: getattr(run, f) for f in fields}})
