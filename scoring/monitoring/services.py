"""Drift monitoring runs: each serving ML version's recent served inferences against its reference profile.

`drift_check` stores one `DriftRun` per version and audits it (action "drift_check"); a run whose verdict is
"attention" is the governance finding that marks the version "attention needed" on /models/ and its card
(`scoring.monitoring.selectors`), announced once when it opens (`scoring.monitoring.findings`). Run daily by
the Celery beat task `stratify.monitor_models`, and on demand by `manage.py monitor_models`.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.utils import timezone

from audit.services import audit_record_create
from scoring.artifact import CARD_JSON
from scoring.models import DriftRun, ModelVersion, ServedInference
from scoring.monitoring.drift import profile_drift
from scoring.monitoring.findings import finding_announce
from scoring.monitoring.policy import monitor_policy_get
from scoring.serving.registry import resolve_path

MONITOR_ACTOR = "stratify:monitoring"
MONITORED = (ModelVersion.Status.ACTIVE, ModelVersion.Status.CANARY, ModelVersion.Status.SHADOW)


def reference_of(mv: ModelVersion) -> dict[str, Any] | None:
    """The version's reference profile: its registered card's, else its artifact folder's card JSON."""
    profile = (mv.card or {}).get("reference_profile")
    if profile is None and mv.artifact_path:
        path = resolve_path(mv.artifact_path) / CARD_JSON
        profile = json.loads(path.read_text()).get("reference_profile") if path.is_file() else None
    return profile


def _served(
    mv: ModelVersion, since: datetime, until: datetime
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.str_]]:
    """Input matrix (NaN = missing), scores and patient pseudonyms of the version's inferences served in
    [since, until)."""
    width = len((mv.card or {}).get("features") or [])
    rows = [
        row
        for row in ServedInference.objects.filter(
            model_name=mv.name, model_version=mv.version, recorded_at__gte=since, recorded_at__lt=until
        ).values_list("features", "score", "patient_pseudonym")
        if len(row[0]) == width
    ]
    x = np.array([[np.nan if v is None else v for v in f] for f, _, _ in rows], dtype=np.float64).reshape(-1, width)
    return x, np.array([s for _, s, _ in rows], dtype=np.float64), np.array([p for _, _, p in rows], dtype=np.str_)


def _checked(
    mv: ModelVersion,
    features: list[str],
    x: npt.NDArray[np.float64],
    scores: npt.NDArray[np.float64],
    patients: npt.NDArray[np.str_],
) -> tuple[str, dict[str, Any], list[str]]:
    """(verdict, per-column results, flagged columns) of one window, at the model's monitor thresholds (each
    patient's rows counted by what they are worth together, `scoring.monitoring.drift.effective_size`)."""
    profile = reference_of(mv)
    if profile is None:
        return DriftRun.Verdict.NO_REFERENCE, {}, []
    if len(scores) < settings.MONITORING_MIN_ROWS:
        return DriftRun.Verdict.TOO_FEW, {}, []
    policy = monitor_policy_get(mv.name)
    found = profile_drift(
        profile,
        features,
        x,
        scores,
        groups=patients,
        psi_major=policy.psi_major,
        missing_change=policy.missing_change,
        drift_share=policy.drift_share,
    )
    verdict = DriftRun.Verdict.ATTENTION if found["attention"] else DriftRun.Verdict.STABLE
    return verdict, found["columns"], found["flagged"]


def drift_check(mv: ModelVersion, *, since: datetime, until: datetime, run_by: str = MONITOR_ACTOR) -> DriftRun:
    """Compare the version's inferences served in [since, until) with its reference; store and audit the run."""
    x, scores, patients = _served(mv, since, until)
    verdict, results, flagged = _checked(mv, list((mv.card or {}).get("features") or []), x, scores, patients)
    run = DriftRun.objects.create(
        model_name=mv.name,
        model_version=mv.version,
        window_start=since,
        window_end=until,
        rows=len(scores),
        verdict=verdict,
        flagged=flagged,
        results=results,
        run_by=run_by,
    )
    audit_record_create(
        action="drift_check",
        actor=run_by,
        model_name=mv.name,
        model_version=mv.version,
        spec_version=mv.spec_version,
        output_summary={
            "verdict": verdict,
            "rows": len(scores),
            "flagged": flagged[:20],
            "major": [k for k, c in results.items() if c.get("major")][:20],
        },
        detail={"run": run.pk, "since": since.isoformat(), "until": until.isoformat()},
    )
    finding_announce(run)
    return run


def monitored_versions(model_name: str | None = None) -> list[ModelVersion]:
    """The serving ML versions (active, canary, shadow) of `model_name`, or of every model."""
    versions = ModelVersion.objects.filter(kind=ModelVersion.Kind.ML, status__in=MONITORED).order_by("name", "version")
    return list(versions.filter(name=model_name) if model_name else versions)


def window_of(since: datetime | None) -> tuple[datetime, datetime]:
    """[since, now), since defaulting to MONITORING_WINDOW_DAYS ago."""
    until = timezone.now()
    return since or until - timedelta(days=settings.MONITORING_WINDOW_DAYS), until


def models_monitor(
    *, model_name: str | None = None, since: datetime | None = None, run_by: str = MONITOR_ACTOR
) -> list[DriftRun]:
    """One drift run per serving ML version (of `model_name`, or all), over [since, now); since defaults to
    MONITORING_WINDOW_DAYS ago."""
    start, until = window_of(since)
    return [drift_check(mv, since=start, until=until, run_by=run_by) for mv in monitored_versions(model_name)]
