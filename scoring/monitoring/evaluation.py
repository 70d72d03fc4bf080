"""Performance runs: each serving ML version's served inferences, labelled by the outcomes taken in, judged
against the model's monitor thresholds (`scoring.monitoring.policy`).

`performance_check` stores one `PerformanceRun` and audits it (action "performance_check"); a run that crosses
a threshold has verdict "attention": the governance finding that marks the version "attention needed" on
/models/, its card and /readyz detail (`scoring.monitoring.selectors`), announced once when it opens
(`scoring.monitoring.findings`). Run with the drift monitors, daily (`stratify.monitor_models`) and on demand
(`manage.py monitor_models`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings

from audit.models import AuditRecord
from audit.services import audit_record_create
from scoring.card import external_metrics
from scoring.catalogue import definition_of
from scoring.models import ModelVersion, Outcome, PerformanceRun, ServedInference
from scoring.monitoring.alerts import AlertEvent, alert_events, alert_summary
from scoring.monitoring.findings import finding_announce
from scoring.monitoring.labels import Observed, by_patient, label
from scoring.monitoring.performance import subgroup_masks, window_performance
from scoring.monitoring.policy import monitor_policy_get, performance_bounds
from scoring.monitoring.services import MONITOR_ACTOR, monitored_versions, window_of


class Labeller:
    """Labels of a version's served scores from the outcomes taken in for `pseudonyms` (its card's horizon, its
    catalogue outcome)."""

    def __init__(self, mv: ModelVersion, pseudonyms: Iterable[str]) -> None:
        self.horizon = timedelta(hours=float((mv.card or {}).get("horizon_hours") or 0))
        self.ends_prediction = definition_of(mv.name).outcome.ends_prediction
        self.outcomes = by_patient(
            Outcome.objects.filter(model_name=mv.name, patient_pseudonym__in=set(pseudonyms)).values_list(
                "patient_pseudonym", "occurred", "at"
            )
        )

    def __call__(self, pseudonym: str, as_of: datetime) -> int:
        """The label of a score of this patient at `as_of` (1, 0, or excluded/unlabelled < 0)."""
        outcomes: list[Observed] = self.outcomes.get(pseudonym, [])
        return label(as_of, self.horizon, outcomes, ends_prediction=self.ends_prediction)


class Window:
    """A version's served inferences in [since, until) with their labels (1, 0, or excluded/unlabelled < 0)."""

    def __init__(self, mv: ModelVersion, since: datetime, until: datetime) -> None:
        self.features: list[str] = list((mv.card or {}).get("features") or [])
        rows = list(
            ServedInference.objects.filter(
                model_name=mv.name, model_version=mv.version, recorded_at__gte=since, recorded_at__lt=until
            ).values_list("patient_pseudonym", "as_of", "score", "features")
        )
        rows = [r for r in rows if len(r[3]) == len(self.features)]
        self.patients = np.array([r[0] for r in rows], dtype=object)
        self.scores = np.array([r[2] for r in rows], dtype=np.float64)
        self.x = np.array([[np.nan if v is None else v for v in r[3]] for r in rows], dtype=np.float64).reshape(
            -1, len(self.features)
        )
        self.label_of = Labeller(mv, self.patients)
        self.labels = np.array([self.label_of(r[0], r[1]) for r in rows], dtype=np.int8)


def _below(metric: dict[str, Any], bound: float | None) -> bool:
    return bound is not None and metric.get("ci") is not None and metric["ci"][1] < bound


def _above(metric: dict[str, Any], bound: float | None) -> bool:
    return bound is not None and metric.get("ci") is not None and metric["ci"][0] > bound


def _text(name: str, metric: dict[str, Any], relation: str, bound: float) -> dict[str, Any]:
    low, high = metric["ci"]
    return {
        "monitor": name,
        "value": metric["value"],
        "ci": metric["ci"],
        "bound": bound,
        "text": f"{name} {metric['value']:.3f} (95% CI {low:.3f} to {high:.3f}) {relation} {bound:.3g}",
    }


def patients_with(y: Any, patients: Any) -> tuple[int, int]:
    """(patients with a score labelled 1, patients whose labelled scores are all 0)."""
    with_outcome = set(patients[y == 1])
    return len(with_outcome), len(set(patients) - with_outcome)


def breaches_of(results: dict[str, Any], bounds: dict[str, Any]) -> list[dict[str, Any]]:
    """Each threshold the window crossed with its whole interval, in words (subgroups: those judged)."""
    found = []
    for name in ("auroc", "auprc"):
        if _below(results[name], bounds[f"{name}_min"]):
            found.append(_text(name, results[name], "below", bounds[f"{name}_min"]))
    if _above(results["ece"], bounds["ece_max"]):
        found.append(_text("ece", results["ece"], "above", bounds["ece_max"]))
    slope, intercept, limit = results["calibration_slope"], results["calibration_intercept"], bounds["intercept_max"]
    if _below(slope, bounds["slope_min"]):
        found.append(_text("calibration_slope", slope, "below", bounds["slope_min"]))
    if _above(slope, bounds["slope_max"]):
        found.append(_text("calibration_slope", slope, "above", bounds["slope_max"]))
    if _below(intercept, -limit if limit is not None else None):
        found.append(_text("calibration_intercept", intercept, "below", -limit))
    if _above(intercept, limit):
        found.append(_text("calibration_intercept", intercept, "above", limit))
    for group, metric in results["subgroups"].items():
        bound = bounds["subgroup_auroc_min"].get(group)
        if metric.get("judged", True) and _below(metric, bound):
            found.append(_text(f"auroc ({group})", metric, "below", bound))
    return found


def alert_breaches(summary: dict[str, Any], bounds: dict[str, Any]) -> list[dict[str, Any]]:
    """Alert burden above its bound; PPV with its whole interval below its bound."""
    found = []
    burden, limit = summary["alerts_per_100"], bounds["alerts_per_100_max"]
    if burden is not None and limit is not None and burden > limit:
        found.append(
            {
                "monitor": "alerts_per_100",
                "value": burden,
                "bound": limit,
                "text": f"alerts per 100 patients {burden:.1f} above {limit:.3g}",
            }
        )
    if _below(summary["ppv"], bounds["ppv_min"]):
        found.append(_text("ppv", summary["ppv"], "below", bounds["ppv_min"]))
    return found


def _judge(window: Window, mv: ModelVersion, bounds: dict[str, Any]) -> tuple[str, dict[str, Any], list[Any]]:
    """(verdict, results, breaches) of a labelled window."""
    keep = window.labels >= 0
    y, patients = window.labels[keep], window.patients[keep]
    counts = patients_with(y, patients)
    if min(counts) < bounds["min_events"]:
        return PerformanceRun.Verdict.TOO_FEW, {"patients": list(counts)}, []
    names = list(external_metrics(mv.card or {})[1].get("subgroups") or {})
    masks = subgroup_masks(names, window.features, window.x[keep])
    results = window_performance(y, window.scores[keep], patients, masks, boots=settings.MONITORING_BOOTSTRAP)
    results["patients"] = list(counts)
    for name, metric in results["subgroups"].items():
        metric["patients"] = list(patients_with(y[masks[name]], patients[masks[name]]))
        metric["judged"] = min(metric["patients"]) >= bounds["min_events"]
    breaches = breaches_of(results, bounds)
    verdict = PerformanceRun.Verdict.ATTENTION if breaches else PerformanceRun.Verdict.STABLE
    return verdict, results, breaches


def _alerts(window: Window, mv: ModelVersion, since: datetime, until: datetime) -> dict[str, Any]:
    events = alert_events(model_name=mv.name, model_version=mv.version, since=since, until=until)

    def label_of(event: AlertEvent) -> int:
        return window.label_of(event.patient_pseudonym, event.as_of)

    return alert_summary(events, len(set(window.patients)), label_of)


def performance_check(
    mv: ModelVersion, *, since: datetime, until: datetime, run_by: str = MONITOR_ACTOR
) -> PerformanceRun:
    """Judge the version's labelled inferences served in [since, until); store and audit the run."""
    window = Window(mv, since, until)
    bounds = performance_bounds(monitor_policy_get(mv.name), mv.card or {})
    verdict, results, breaches = _judge(window, mv, bounds)
    results["alerts"] = _alerts(window, mv, since, until)
    breaches += alert_breaches(results["alerts"], bounds)
    if breaches:
        verdict = PerformanceRun.Verdict.ATTENTION
    keep = window.labels >= 0
    run = PerformanceRun.objects.create(
        model_name=mv.name,
        model_version=mv.version,
        window_start=since,
        window_end=until,
        rows=int(keep.sum()),
        positives=int(window.labels[keep].sum()),
        verdict=verdict,
        breaches=breaches,
        results=results,
        thresholds=bounds,
        run_by=run_by,
    )
    audit_record_create(
        action=AuditRecord.Action.PERFORMANCE_CHECK,
        actor=run_by,
        model_name=mv.name,
        model_version=mv.version,
        spec_version=mv.spec_version,
        output_summary={
            "verdict": verdict,
            "rows": run.rows,
            "positives": run.positives,
            "breaches": [b["text"] for b in breaches][:20],
        },
        detail={"run": run.pk, "since": since.isoformat(), "until": until.isoformat()},
    )
    finding_announce(run)
    return run


def models_evaluate(
    *, model_name: str | None = None, since: datetime | None = None, run_by: str = MONITOR_ACTOR
) -> list[PerformanceRun]:
    """One performance run per serving ML version (of `model_name`, or all), over the drift monitors' window."""
    start, until = window_of(since)
    return [performance_check(mv, since=start, until=until, run_by=run_by) for mv in monitored_versions(model_name)]
