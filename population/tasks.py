"""Celery tasks of population runs: each takes ids and calls one service (see population/services)."""

from datetime import datetime
from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from config.errors import UpstreamUnavailable
from fhirapp.bulk import Pending
from population.services import outcomes, reconcile, runs, scoring
from population.services.schedule import cohorts_due_start


@shared_task(name="population.run_execute", bind=True, max_retries=None)
def run_execute(self: Any, run_id: int) -> str:
    """Export (re-asking the EHR after Retry-After, without holding the worker), then download and chunk.

    Transient EHR failures are asked again with backoff; past BULK_POLL_TOTAL_SECONDS, or on a definite
    failure, the run fails with its reason.
    """
    try:
        answer = runs.run_export(run_id, attempt=self.request.retries)
    except UpstreamUnavailable as exc:
        if runs.run_export_overdue(run_id):
            runs.run_fail(run_id, exc)
            raise
        raise self.retry(countdown=min(300, 5 * 2 ** min(self.request.retries, 6)), exc=exc) from exc
    except Exception as exc:
        runs.run_fail(run_id, exc)
        raise
    if isinstance(answer, Pending):
        if runs.run_export_overdue(run_id):
            runs.run_fail(run_id, TimeoutError("The export did not complete in time."))
            return "failed"
        raise self.retry(countdown=answer.wait)
    return _fetch(run_id)


def _fetch(run_id: int) -> str:
    try:
        return "scoring" if runs.run_fetch(run_id) else "stopped"
    except Exception as exc:
        runs.run_fail(run_id, exc)
        raise


@shared_task(
    name="population.chunk_score",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=3,
    autoretry_for=(UpstreamUnavailable,),
    retry_backoff=True,
    time_limit=settings.POPULATION_CHUNK_TIME_LIMIT_SECONDS,
)
def chunk_score(self: Any, run_id: int, number: int) -> int:
    """Score one chunk once (idempotent per run and chunk), holding its lease until the time limit; a killed or
    hung worker's chunk is queued again by `chunks_reconcile_task` once the lease has run out."""
    return scoring.chunk_score(run_id=run_id, number=number, owner=str(self.request.id or ""))


@shared_task(name="population.chunks_reconcile", ignore_result=True)
def chunks_reconcile_task() -> int:
    """Every minute (CELERY_BEAT_SCHEDULE): queue again the chunks of killed or hung workers."""
    return reconcile.chunks_reconcile()


@shared_task(name="population.schedule_due")
def schedule_due(now: str | None = None) -> list[int]:
    """Beat, every few minutes: start tonight's run of each cohort whose scheduled time has passed."""
    moment = datetime.fromisoformat(now) if now else timezone.now()
    return [run.pk for run in cohorts_due_start(moment)]


@shared_task(
    name="population.outcomes_collect", autoretry_for=(UpstreamUnavailable,), retry_backoff=True, max_retries=3
)
def outcomes_collect() -> dict[str, Any]:
    """Daily (CELERY_BEAT_SCHEDULE), before the monitors: every ML model's outcomes from every registered EHR."""
    batches = outcomes.outcomes_collect_all()
    return {"batches": len(batches), "created": sum(b.created for b in batches)}
