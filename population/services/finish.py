"""The end of a run: completed when its last chunk is, failed or cancelled otherwise; one audit record each."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record_create
from population.models import PopulationRun

RUN_ACTOR = "stratify:population"


def run_finish_if_done(run_id: int) -> bool:
    """Complete the run when every chunk is done (once, whichever worker finishes last)."""
    with transaction.atomic():
        run = PopulationRun.objects.select_for_update().select_related("cohort").get(pk=run_id)
        if run.status != PopulationRun.Status.SCORING or run.chunks_done < run.chunks_total:
            return False
        run_end(run, PopulationRun.Status.COMPLETED)
    return True


def run_end(run: PopulationRun, status: str, error: dict[str, Any] | None = None) -> None:
    """Set the final status and write the run's audit record ("population_run")."""
    run.status, run.finished_at = status, timezone.now()
    run.error = error or run.error
    run.progress = "" if status == PopulationRun.Status.COMPLETED else run.progress
    run.save(update_fields=["status", "finished_at", "error", "progress"])
    outcome = {"completed": "success", "cancelled": "denied"}.get(status, "failure")
    audit_record_create(
        action="population_run",
        outcome=outcome,
        actor=RUN_ACTOR,
        purpose_of_use="TREAT",
        detail={
            "run": run.pk,
            "cohort": run.cohort.slug,
            "status": status,
            "incremental": run.incremental,
            "patients": run.patients_total,
            "scored": run.patients_scored,
            "models": run.cohort.model_names,
            "error": run.error,
        },
    )
