"""The evidence a promotion request compares: challenger and champion on the same recent served cases, on the
served cases whose outcomes are now known, and on the labelled local stays the challenger was validated on.

Served cases are the champion's most recent served inferences (`ServedInference`, any door), rescored by the
challenger through the serving path (its ONNX session and calibration): on them the scores, bands and alert rates
are compared. Served cases whose outcomes are known are the champion's most recent PROMOTION_SERVED_CASES
inferences of patients with an outcome taken in (`collect_outcomes`, `import_outcomes`), labelled within the
model's horizon exactly as the performance monitor labels them (`scoring.monitoring.evaluation.Labeller`); on
them both models' AUROC, AUPRC, ECE, calibration slope and intercept are the monitor's own, with the same
patient-bootstrap 95 % intervals, the two models resampled alike (`metrics_with_intervals`). With fewer patients
with (or without) the outcome than the model's monitor policy asks before judging (`min_events`, 100 by
default), no metric is given and the evidence says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from django.conf import settings
from scipy.stats import spearmanr

from scoring.models import ModelVersion, Outcome, ServedInference
from scoring.monitoring.evaluation import Labeller, patients_with
from scoring.monitoring.performance import metrics_with_intervals
from scoring.monitoring.policy import monitor_policy_get
from scoring.serving import registry
from scoring.serving.policy import DEFAULT_INDICATORS, Policy

HEADLINE = ("auroc", "auprc", "utility", "ece", "brier")
NO_CHAMPION = "No serving ML champion: nothing served to compare on."


@dataclass(frozen=True, slots=True)
class Served:
    """Served inferences, newest first: inputs (NaN = missing), scores, patients, as-of and recorded-at times."""

    x: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float64]
    patients: npt.NDArray[Any]
    as_of: list[datetime]
    recorded: list[str]


def promotion_evidence(challenger: ModelVersion, champion: ModelVersion | None) -> dict[str, Any]:
    """The three comparisons, as stored on the request."""
    return {
        "served_cases": served_comparison(challenger, champion),
        "served_outcomes": outcome_comparison(challenger, champion),
        "labelled_local": labelled_comparison(challenger, champion),
    }


def _policy(mv: ModelVersion) -> Policy:
    p = mv.policy
    return Policy(p.moderate_at, p.high_at, DEFAULT_INDICATORS)


def _served_rows(champion: ModelVersion, *, with_outcomes: bool = False) -> Served:
    """The champion's most recent served inferences (only of patients with an outcome taken in, if asked)."""
    width = len((champion.card or {}).get("features") or [])
    served = ServedInference.objects.filter(model_name=champion.name, model_version=champion.version)
    if with_outcomes:
        known = Outcome.objects.filter(model_name=champion.name).values("patient_pseudonym")
        served = served.filter(patient_pseudonym__in=known)
    rows = [
        r
        for r in served.order_by("-recorded_at", "-id").values_list(
            "features", "score", "patient_pseudonym", "as_of", "recorded_at"
        )[: settings.PROMOTION_SERVED_CASES]
        if len(r[0]) == width
    ]
    return Served(
        x=np.array([[np.nan if v is None else v for v in r[0]] for r in rows], dtype=np.float32).reshape(-1, width),
        scores=np.array([r[1] for r in rows], dtype=np.float64),
        patients=np.array([r[2] for r in rows], dtype=object),
        as_of=[r[3] for r in rows],
        recorded=[r[4].isoformat() for r in rows],
    )


def _rescored(challenger: ModelVersion, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """The challenger's calibrated scores of `x` through the serving path."""
    model = registry.load(challenger.name, challenger.version, challenger.artifact_path, challenger.sha256)
    return np.asarray(model.calibration.apply_array(model.margin(x)), dtype=np.float64)


def _summary(scores: npt.NDArray[np.float64], policy: Policy) -> dict[str, Any]:
    bands = [policy.band(float(s)) for s in scores]
    return {
        "mean_score": float(scores.mean()),
        "high_share": bands.count("high") / len(bands),
        "bands": {b: bands.count(b) for b in ("low", "moderate", "high")},
    }


def served_comparison(challenger: ModelVersion, champion: ModelVersion | None) -> dict[str, Any]:
    """Champion and challenger scores, bands and alert rates on the champion's recent served cases."""
    if champion is None or champion.kind != ModelVersion.Kind.ML:
        return {"cases": 0, "note": NO_CHAMPION}
    rows = _served_rows(champion)
    served, times = rows.scores, rows.recorded
    if not len(served):
        return {"cases": 0, "note": f"{champion} has no served inferences yet."}
    rescored = _rescored(challenger, rows.x)
    theirs, ours = _policy(champion), _policy(challenger)
    agree = np.mean([theirs.band(float(a)) == ours.band(float(b)) for a, b in zip(served, rescored, strict=True)])
    return {
        "cases": len(served),
        "from": times[-1],
        "to": times[0],
        "champion": _summary(served, theirs),
        "challenger": _summary(rescored, ours),
        "band_agreement": float(agree),
        "rank_correlation": float(spearmanr(served, rescored).statistic) if len(served) > 2 else None,
    }


def outcome_comparison(challenger: ModelVersion, champion: ModelVersion | None) -> dict[str, Any]:
    """Champion and challenger discrimination and calibration on the champion's served cases with known outcomes;
    counts and a plain note instead of metrics when there are too few."""
    if champion is None or champion.kind != ModelVersion.Kind.ML:
        return {"cases": 0, "note": NO_CHAMPION}
    rows = _served_rows(champion, with_outcomes=True)
    label_of = Labeller(champion, rows.patients)
    labels = np.array([label_of(p, t) for p, t in zip(rows.patients, rows.as_of, strict=True)], dtype=np.int8)
    keep = labels >= 0
    y, patients = labels[keep], rows.patients[keep]
    counts = patients_with(y, patients)
    found = _counts(y, counts)
    needed = monitor_policy_get(champion.name).min_events
    if min(counts) < needed:
        return {**found, "note": _too_few(counts, needed)}
    recorded = [t for t, k in zip(rows.recorded, keep, strict=True) if k]
    boots = settings.MONITORING_BOOTSTRAP
    return {
        **found,
        "from": recorded[-1],
        "to": recorded[0],
        "champion": metrics_with_intervals(y, rows.scores[keep], patients, boots=boots),
        "challenger": metrics_with_intervals(y, _rescored(challenger, rows.x[keep]), patients, boots=boots),
    }


def _counts(y: npt.NDArray[np.int8], counts: tuple[int, int]) -> dict[str, int]:
    return {
        "cases": len(y),
        "cases_with_outcome": int(y.sum()),
        "patients_with_outcome": counts[0],
        "patients_without_outcome": counts[1],
    }


def _too_few(counts: tuple[int, int], needed: int) -> str:
    return (
        f"Too few served cases with known outcomes to compare discrimination or calibration: {counts[0]} patients "
        f"with the outcome and {counts[1]} without; the model's monitor policy asks for at least {needed} of each "
        "(min_events) before judging. No AUROC, AUPRC or calibration is given."
    )


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    out = {k: metrics.get(k) for k in HEADLINE}
    out["subgroups"] = {g: v.get("auroc") for g, v in (metrics.get("subgroups") or {}).items()}
    return out


def labelled_comparison(challenger: ModelVersion, champion: ModelVersion | None) -> dict[str, Any]:
    """The challenger and its base version on the held-out labelled site stays of its adaptation."""
    card = challenger.card or {}
    seen = card.get("adaptation")
    metrics = card.get("metrics") or {}
    if not seen or "original_site_heldout" not in metrics:
        return {"note": "The challenger was not adapted to labelled local stays (adapt_model): no local comparison."}
    base_version = seen.get("base_version")
    return {
        "validation": seen["validation"],
        "site_data": {k: seen["site_data"][k] for k in ("files", "sha256")},
        "challenger": _headline(metrics["external_site_heldout"]),
        "base": _headline(metrics["original_site_heldout"]),
        "base_version": base_version,
        "base_is_champion": champion is not None and champion.version == base_version,
    }
