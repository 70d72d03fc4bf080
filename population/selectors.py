"""Reads of population runs: a cohort's latest run and its worklist, ranked and filtered."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.db.models import F, QuerySet

from population.models import Cohort, PatientResult, PopulationRun

BANDS = ("high", "moderate", "low")


@dataclass(frozen=True)
class WorklistFilter:
    """What the worklist shows: one model's results, optionally one band, one unit, only changes."""

    model: str
    band: str = ""
    unit: str = ""
    changed: bool = False


def worklist_filter(params: Mapping[str, str], cohort: Cohort) -> WorklistFilter:
    """The worklist filter of request parameters (model, band, unit, changed=1); unknown values are ignored."""
    model = params.get("model", "")
    return WorklistFilter(
        model=model if model in cohort.model_names else cohort.model_names[0],
        band=params.get("band", "") if params.get("band") in BANDS else "",
        unit=params.get("unit", "")[:200],
        changed=params.get("changed") == "1",
    )


def run_latest(cohort: Cohort) -> PopulationRun | None:
    """The cohort's latest completed run."""
    return cohort.runs.filter(status=PopulationRun.Status.COMPLETED).order_by("-finished_at").first()


def worklist_rows(run: PopulationRun, wanted: WorklistFilter) -> QuerySet[PatientResult]:
    """The run's results for one model, highest risk first (scored before not scored), then by name."""
    rows = PatientResult.objects.filter(run=run, model_name=wanted.model)
    if wanted.band:
        rows = rows.filter(band=wanted.band)
    if wanted.unit:
        rows = rows.filter(unit=wanted.unit)
    if wanted.changed:
        rows = rows.filter(changed=True)
    return rows.order_by("-scored", F("rank_value").desc(nulls_last=True), "patient_name", "patient_id")


def run_units(run: PopulationRun) -> list[str]:
    """The units (locations) the run's patients are in, for the filter."""
    return sorted(u for u in PatientResult.objects.filter(run=run).values_list("unit", flat=True).distinct() if u)
