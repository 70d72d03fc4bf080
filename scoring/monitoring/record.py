"""What is served is recorded for monitoring: each scored inference's inputs, score, band and model version.

Called by `scoring.services` for every inference it audits (and by callers that audit themselves), so every
door is covered. One bulk insert per call; the patient appears only as the audit pseudonym
(`config.keys.pseudonymize`). Refusals are not recorded (they have no score); the audit trail keeps them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from audit.services import audit_record_create
from config.keys import pseudonymize
from scoring.models import ServedInference
from scoring.types import ScoreResult

PURGE_ACTOR = "stratify:monitoring"


def _row(result: ScoreResult, pseudonym: str, now: datetime) -> ServedInference:
    score = result.probability if result.kind == "ml" else result.points
    return ServedInference(
        recorded_at=now,
        model_name=result.model_name,
        model_version=result.model_version,
        model_status=result.model_status,
        patient_pseudonym=pseudonym,
        as_of=result.as_of,
        score=float(score or 0.0),
        band=result.band or "",
        features=list(result.feature_values),
    )


def served_record(results: Sequence[ScoreResult], patient_id: str) -> int:
    """Keep the scored ones of `results` (one patient's inferences) for monitoring; returns how many."""
    return served_records([(results, patient_id)])


def served_records(patients: Sequence[tuple[Sequence[ScoreResult], str]]) -> int:
    """Keep the scored ones of each patient's results (`(results, patient_id)` pairs) in one insert; how many."""
    now, rows = timezone.now(), []
    for results, patient_id in patients:
        scored = [r for r in results if r.scored]
        if scored:
            pseudonym = pseudonymize(patient_id)
            rows += [_row(r, pseudonym, now) for r in scored]
    if rows:
        ServedInference.objects.bulk_create(rows)
    return len(rows)


def served_purge(now: datetime | None = None) -> dict[str, Any]:
    """Delete served inferences older than MONITORING_RETENTION_DAYS (audited when any went)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.MONITORING_RETENTION_DAYS)
    deleted, _ = ServedInference.objects.filter(recorded_at__lt=cutoff).delete()
    if deleted:
        audit_record_create(
            action="monitor_purge",
            actor=PURGE_ACTOR,
            detail={"served_inferences": deleted, "before": cutoff.isoformat()},
        )
    return {"served_inferences": deleted, "before": cutoff.isoformat()}
