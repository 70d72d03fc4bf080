"""The evidence a promotion request compares: challenger and champion on the same recent served cases, and on the
labelled local stays the challenger was validated on.

Served cases are the champion's most recent served inferences (`ServedInference`, any door), rescored by the
challenger through the serving path (its ONNX session and calibration); outcomes of served cases are not collected
yet, so on them only the scores, bands and alert rates are compared, never discrimination or calibration.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from django.conf import settings
from scipy.stats import spearmanr

from scoring.models import ModelVersion, ServedInference
from scoring.serving import registry
from scoring.serving.policy import DEFAULT_INDICATORS, Policy

HEADLINE = ("auroc", "auprc", "utility", "ece", "brier")
NO_OUTCOMES = (
    "Outcomes of served cases are not collected yet: on them only scores, bands and alert rates are compared; "
    "discrimination and calibration come from the labelled local stays."
)


def promotion_evidence(challenger: ModelVersion, champion: ModelVersion | None) -> dict[str, Any]:
    """Both comparisons, as stored on the request."""
    return {
        "served_cases": served_comparison(challenger, champion),
        "labelled_local": labelled_comparison(challenger, champion),
    }


def _policy(mv: ModelVersion) -> Policy:
    p = mv.policy
    return Policy(p.moderate_at, p.high_at, DEFAULT_INDICATORS)


def _served_rows(champion: ModelVersion) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float64], list[str]]:
    """(inputs, scores, recorded-at times) of the champion's most recent served inferences."""
    width = len((champion.card or {}).get("features") or [])
    rows = [
        r
        for r in ServedInference.objects.filter(model_name=champion.name, model_version=champion.version)
        .order_by("-recorded_at")
        .values_list("features", "score", "recorded_at")[: settings.PROMOTION_SERVED_CASES]
        if len(r[0]) == width
    ]
    x = np.array([[np.nan if v is None else v for v in f] for f, _, _ in rows], dtype=np.float32).reshape(-1, width)
    return x, np.array([s for _, s, _ in rows], dtype=np.float64), [t.isoformat() for _, _, t in rows]


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
        return {"cases": 0, "note": "No serving ML champion: nothing served to compare on.", "outcomes": NO_OUTCOMES}
    x, served, times = _served_rows(champion)
    if not len(served):
        return {"cases": 0, "note": f"{champion} has no served inferences yet.", "outcomes": NO_OUTCOMES}
    model = registry.load(challenger.name, challenger.version, challenger.artifact_path, challenger.sha256)
    rescored = model.calibration.apply_array(model.margin(x))
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
        "outcomes": NO_OUTCOMES,
    }


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
