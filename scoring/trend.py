"""Trend scoring: a hook's models recomputed at earlier times, on the record as it stood then.

The sidebar's trend (and any later door that shows one) calls `score_trend`; each earlier point scores
exactly as the CDS path would have at that time, because every model reads its declared share of the
resources as of that point (`scoring.features.select`), so later Observations are never seen.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection

from scoring.features.select import ParsedResources, parsed_resources
from scoring.models import ModelVersion
from scoring.monitoring.record import served_record
from scoring.services import HookScores, score_audit_entry, score_for_hook
from scoring.types import ScoreResult

TREND_THREADS = 4
Trend = list[tuple[datetime, float | None]]


@dataclass(frozen=True)
class TrendScores:
    """Scores now, each visible model's trend, and the "score" audit records of all of it (not yet written)."""

    now: HookScores
    trend: dict[str, Trend]
    audit_entries: list[dict[str, Any]]


def trend_times(
    now: datetime, *, window_hours: float, step_hours: float, stay_start: datetime | None
) -> list[datetime]:
    """Earlier as-of times every `step_hours` over the window, not before the stay began (oldest first)."""
    step = timedelta(hours=step_hours)
    start = now - timedelta(hours=window_hours)
    if stay_start is not None and stay_start > start:
        start = stay_start
    return [now - k * step for k in range(int((now - start) / step), 0, -1)]


def score_trend(
    *,
    hook: str,
    resources: Sequence[Mapping[str, Any]],
    now: datetime,
    times: Sequence[datetime],
    patient_id: str,
    actor: str = "",
    encounter_id: str | None = None,
) -> TrendScores:
    """Every model of `hook` now and at each earlier time. The inferences now are recorded for monitoring
    (`served_record`; the earlier points are not served); the caller writes `audit_entries` (one per
    inference now, one trend summary per model version) in one transaction."""
    parsed = parsed_resources(resources)  # each Observation read once for every model at every time
    now_scores = score_for_hook(
        hook=hook, resources=parsed, as_of=now, patient_id=patient_id, audit=False, encounter_id=encounter_id
    )
    with ThreadPoolExecutor(max_workers=TREND_THREADS) as pool:
        points = list(pool.map(lambda at: _point(hook, parsed, at, patient_id, encounter_id), times))
    trend: dict[str, Trend] = {r.model_name: [] for r in now_scores.visible}
    for at, earlier in [*points, (now, now_scores.inferences)]:
        for result in earlier:
            if result.model_name in trend and result.model_status != ModelVersion.Status.SHADOW:
                trend[result.model_name].append((at, score_value(result)))
    entries = trend_audit_entries(now_scores.inferences, points, patient_id=patient_id, actor=actor)
    served_record(now_scores.inferences, patient_id)
    return TrendScores(now_scores, trend, entries)


def _point(
    hook: str, resources: ParsedResources, at: datetime, patient_id: str, encounter_id: str | None
) -> tuple[datetime, list[ScoreResult]]:
    try:
        return at, score_for_hook(
            hook=hook, resources=resources, as_of=at, patient_id=patient_id, audit=False, encounter_id=encounter_id
        ).inferences
    finally:
        connection.close()  # this pool thread's own connection (the serving rows may be read)


def score_value(result: ScoreResult) -> float | None:
    """The number drawn in a trend: probability for ML models, points for rule scores."""
    if not result.scored:
        return None
    return result.probability if result.kind == "ml" else result.points


def trend_audit_entries(
    now: list[ScoreResult], trend_points: list[tuple[datetime, list[ScoreResult]]], *, patient_id: str, actor: str = ""
) -> list[dict[str, Any]]:
    """Audit records of a trend's inferences: one per score now, one per model version for its trend.

    A trend record lists every recomputation (as-of time, output, band, input digest); its own
    `input_digest` is the sha256 of those digests in time order, so each point stays verifiable.
    """
    entries = [{**score_audit_entry(r, patient_id), "actor": actor, "detail": {"source": "sidebar"}} for r in now]
    grouped: dict[tuple[str, str], list[tuple[datetime, ScoreResult]]] = {}
    for at, results in trend_points:
        for result in results:
            grouped.setdefault((result.model_name, result.model_version), []).append((at, result))
    return entries + [_trend_entry(points, patient_id, actor) for points in grouped.values()]


def _trend_entry(points: list[tuple[datetime, ScoreResult]], patient_id: str, actor: str) -> dict[str, Any]:
    first = points[0][1]
    scored = sum(1 for _, r in points if r.scored)
    digest = hashlib.sha256("\n".join(r.input_digest for _, r in points).encode()).hexdigest()
    step = (points[1][0] - points[0][0]).total_seconds() / 3600 if len(points) > 1 else 0.0
    return {
        "action": "score",
        "outcome": "success" if scored else "not_scored",
        "actor": actor,
        "patient_id": patient_id,
        "model_name": first.model_name,
        "model_version": first.model_version,
        "spec_version": first.spec_version,
        "input_digest": digest,
        "output_summary": {
            "trend": True,
            "status": first.model_status,
            "count": len(points),
            "scored": scored,
            "points": [
                {
                    "as_of": at.isoformat(timespec="seconds"),
                    "scored": r.scored,
                    "probability": r.probability,
                    "points": r.points,
                    "band": r.band,
                    "input_digest": r.input_digest,
                }
                for at, r in points
            ],
        },
        "detail": {
            "source": "sidebar_trend",
            "from": points[0][0].isoformat(timespec="seconds"),
            "to": points[-1][0].isoformat(timespec="seconds"),
            "step_hours": step,
        },
    }
