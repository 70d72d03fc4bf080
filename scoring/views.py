"""HTML model pages: the registry at /models/ and each version's card at /models/<name>/<version>/."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from scoring.artifact import EXPLANATION_PNG, RELIABILITY_PNG
from scoring.card import card_markdown_sections, external_metrics
from scoring.catalogue import DataRequirements, definition
from scoring.errors import ModelNotFound
from scoring.models import DriftRun, ModelVersion, PerformanceRun
from scoring.monitoring.charts import burden_svg, calibration_svg, heatmap_svg, intervals_svg, shares_svg
from scoring.monitoring.policy import monitor_policy_get
from scoring.monitoring.selectors import (
    latest_performance_run,
    latest_performance_runs,
    latest_run,
    latest_runs,
    performance_runs_recent,
    runs_recent,
)
from scoring.monitoring.services import reference_of
from scoring.readiness import version_problems
from scoring.selectors import change_log, model_version_get, model_versions_all, promotion_requests_of
from scoring.serving.registry import resolve_path

EXTERNAL_SETS = {
    "external_set_b": "PhysioNet set B (unseen hospital)",
    "external_heldout_patients": "held-out patients",
}


def _hooks(name: str) -> tuple[str, ...]:
    model = definition(name)
    return model.hooks if model is not None else ()


def _requirements(name: str) -> DataRequirements | None:
    model = definition(name)
    return model.requirements if model is not None else None


@require_GET
def model_index(request: HttpRequest) -> HttpResponse:
    """Every registered version with its status, readiness and headline external metrics, linking its card."""
    states = {(m["name"], m["version"]): m for m in version_problems()}
    runs, performance = latest_runs(), latest_performance_runs()
    rows = []
    for mv in model_versions_all():
        key, metrics = external_metrics(mv.card or {})
        rows.append(
            {
                "mv": mv,
                "state": states.get((mv.name, mv.version)),
                "hooks": _hooks(mv.name),
                "external_set": EXTERNAL_SETS.get(key or "", (key or "").removeprefix("external_")),
                "external": metrics,
                "drift": runs.get((mv.name, mv.version)),
                "performance": performance.get((mv.name, mv.version)),
            }
        )
    return render(request, "scoring/model_index.html", {"rows": rows})


@require_GET
def model_card(request: HttpRequest, name: str, version: str) -> HttpResponse:
    """The card of one registered version: metrics, thresholds, provider, inputs."""
    mv = model_version_get(name, version)
    if mv is None:
        raise ModelNotFound(f"No model {name} {version}.")
    state = next((m for m in version_problems() if m["name"] == name and m["version"] == version), None)
    policy = getattr(mv, "policy", None)
    context = {
        "mv": mv,
        "card": mv.card or {},
        "policy": policy,
        "state": state,
        "hooks": _hooks(name),
        "requirements": _requirements(name),
        "sections": card_markdown_sections(mv.card or {}),
        "changes": list(policy.changes.all()[:20]) if policy else [],
        "change_log": change_log(name),
        "promotions": promotion_requests_of(mv),
        "has_reliability": _has_figure(mv, RELIABILITY_PNG),
        "has_explanation": _has_figure(mv, EXPLANATION_PNG),
        **_drift_context(latest_run(name, version)),
        "performance": latest_performance_run(name, version),
    }
    return render(request, "scoring/model_card.html", context)


def _drift_context(run: DriftRun | None) -> dict[str, Any]:
    """The latest drift run and its flagged columns, major changes first, then by PSI."""
    if run is None:
        return {"drift": None, "drifted": []}
    drifted = [{"name": name, **run.results.get(name, {})} for name in run.flagged]
    drifted.sort(key=lambda c: (not c.get("major"), -float(c.get("psi", 0.0))))
    return {"drift": run, "drifted": drifted}


HEATMAP_COLUMNS = 25


@require_GET
def model_monitoring(request: HttpRequest, name: str, version: str) -> HttpResponse:
    """A version's drift runs: PSI heatmap over time (most shifted columns), score distribution vs reference."""
    mv = model_version_get(name, version)
    if mv is None:
        raise ModelNotFound(f"No model {name} {version}.")
    runs = runs_recent(name, version)
    tested = [r for r in runs if r.results]
    context = {
        "mv": mv,
        "runs": runs[::-1],
        "profile": reference_of(mv) if mv.kind == "ml" else None,
        "heatmap": heatmap_svg(tested, _most_shifted(tested)) if tested else "",
        "score_chart": _score_chart(mv, tested[-1]) if tested else "",
        **_performance_context(mv),
    }
    return render(request, "scoring/model_monitoring.html", context)


def _performance_context(mv: ModelVersion) -> dict[str, Any]:
    """The version's performance runs, thresholds, and the charts of the latest judged one."""
    runs = performance_runs_recent(mv.name, mv.version)
    judged = [r for r in runs if "auroc" in r.results]
    context: dict[str, Any] = {
        "performance_runs": runs[::-1],
        "policy": monitor_policy_get(mv.name),
        "burden_chart": burden_svg(runs) if runs else "",
        "calibration_chart": "",
        "subgroup_chart": "",
        "latest_performance": judged[-1] if judged else None,
    }
    if judged:
        context |= _judged_charts(mv, judged[-1])
    return context


def _judged_charts(mv: ModelVersion, run: PerformanceRun) -> dict[str, str]:
    metrics = (mv.card or {}).get("metrics") or {}
    key = next((k for k in metrics if k.startswith("internal")), None) or external_metrics(mv.card or {})[0]
    reference = (metrics.get(key) or {}).get("reliability") or [] if key else []
    bounds = (run.thresholds or {}).get("subgroup_auroc_min") or {}
    rows = [("overall", run.results["auroc"], (run.thresholds or {}).get("auroc_min"))]
    rows += [
        (name if metric.get("judged", True) else f"{name} (too few to judge)", metric, bounds.get(name))
        for name, metric in run.results.get("subgroups", {}).items()
    ]
    return {
        "calibration_chart": calibration_svg(reference, run.results.get("reliability", []), key or "card"),
        "subgroup_chart": intervals_svg(rows),
        "calibration_reference": key or "",
    }


def _most_shifted(runs: list[DriftRun]) -> list[str]:
    """The HEATMAP_COLUMNS columns with the largest PSI in any run, the score first."""
    peak: dict[str, float] = {}
    for run in runs:
        for column, result in run.results.items():
            peak[column] = max(peak.get(column, 0.0), float(result.get("psi", 0.0)))
    ranked = sorted((c for c in peak if c != "score"), key=lambda c: -peak[c])
    return ["score", *ranked[: HEATMAP_COLUMNS - 1]]


def _score_chart(mv: ModelVersion, run: DriftRun) -> str:
    reference = (reference_of(mv) or {}).get("score") or {}
    served = run.results.get("score") or {}
    if "shares" not in served or "edges" not in reference:
        return ""
    return shares_svg(reference["shares"], served["shares"], reference["edges"])


def _has_figure(mv: ModelVersion, filename: str) -> bool:
    return mv.kind == "ml" and filename in (mv.card or {}).get("artifacts", [])


@require_GET
def reliability_png(request: HttpRequest, name: str, version: str) -> HttpResponse:
    """The reliability diagram shipped with the artifact."""
    return _artifact_png(name, version, RELIABILITY_PNG, "reliability diagram")


@require_GET
def explanation_png(request: HttpRequest, name: str, version: str) -> HttpResponse:
    """The global explanation figure (mean |SHAP| per feature) shipped with the artifact."""
    return _artifact_png(name, version, EXPLANATION_PNG, "global explanation")


def _artifact_png(name: str, version: str, filename: str, what: str) -> HttpResponse:
    mv = model_version_get(name, version)
    if mv is None or mv.kind != "ml":
        raise ModelNotFound(f"No model {name} {version}.")
    path = resolve_path(mv.artifact_path) / filename
    if not path.is_file():
        raise ModelNotFound(f"No {what} for this version.")
    return HttpResponse(path.read_bytes(), content_type="image/png")
