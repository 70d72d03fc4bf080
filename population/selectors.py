"""Reads of population runs: a cohort's latest run and its worklist, ranked and filtered."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from django.db.models import Count, F, QuerySet

from population.models import Cohort, PatientResult, PopulationRun

BANDS = ("high", "moderate", "low")
ENDED = (PopulationRun.Status.COMPLETED, PopulationRun.Status.FAILED, PopulationRun.Status.CANCELLED)


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


def risk_histogram(run: PopulationRun, model: str) -> list[tuple[str, int]]:
    """(label, patients) of the model's scored values in the run: tenths of probability, or each point total."""
    rows = PatientResult.objects.filter(run=run, model_name=model, scored=True)
    probabilities = [p for p in rows.values_list("probability", flat=True) if p is not None]
    if probabilities:
        counts = [0] * 10
        for p in probabilities:
            counts[min(9, int(p * 10))] += 1
        return [(f"{10 * i}–{10 * i + 10}%", c) for i, c in enumerate(counts)]
    points = Counter(int(p) for p in rows.values_list("points", flat=True) if p is not None)
    return [(str(p), points.get(p, 0)) for p in range(max(points, default=0) + 1)]


def band_counts_by_unit(run: PopulationRun, model: str) -> list[tuple[str, dict[str, int]]]:
    """(unit, {band: patients}) of the run for one model, units by name ("" = no unit named), "" band = not scored."""
    counts: dict[str, dict[str, int]] = {}
    rows = PatientResult.objects.filter(run=run, model_name=model).values("unit", "band").annotate(n=Count("id"))
    for row in rows:
        counts.setdefault(row["unit"], {})[row["band"]] = row["n"]
    return sorted(counts.items())


def band_counts_by_run(cohort: Cohort, model: str, last: int = 10) -> list[tuple[PopulationRun, dict[str, int]]]:
    """(run, {band: patients}) of the cohort's last completed runs for one model, oldest first."""
    done = list(cohort.runs.filter(status=PopulationRun.Status.COMPLETED).order_by("-finished_at")[:last])
    rows = PatientResult.objects.filter(run__in=done, model_name=model).values("run_id", "band").annotate(n=Count("id"))
    counts: dict[int, dict[str, int]] = {}
    for row in rows:
        counts.setdefault(row["run_id"], {})[row["band"]] = row["n"]
    return [(run, counts.get(run.pk, {})) for run in reversed(done)]


def run_active(cohort: Cohort) -> PopulationRun | None:
    """The cohort's run in progress, if any."""
    return cohort.runs.exclude(status__in=ENDED).order_by("-created_at").first()
