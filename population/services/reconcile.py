"""The chunk reconciler: queue again the chunks whose attempt's lease ran out unfinished (Celery beat, every minute).

An attempt holds its chunk's lease until the chunk task's time limit (POPULATION_CHUNK_TIME_LIMIT_SECONDS). A chunk
of a scoring run that is not done, its lease run out more than POPULATION_RECONCILE_GRACE_SECONDS ago, was a killed
or hung worker's: Redis would give the unacknowledged message back only after its visibility timeout (over an hour),
so the reconciler queues the chunk again now, as a new task that the lease is handed to (another reconciler, or the
old message delivered again, leaves it to that task). Queued twice is harmless: an attempt takes the lease, and a
chunk's results, audit records and `done` flag commit once (`population.services.scoring`). A chunk whose attempts
reach POPULATION_CHUNK_MAX_ATTEMPTS ends its run as failed instead. Chunks no attempt has taken yet are the broker's:
their messages wait in the queue, however long it is.
"""

import logging
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.background import periodic_start
from population.models import PopulationRun, RunChunk
from population.services.finish import run_end

logger = logging.getLogger(__name__)
BATCH = 500


def chunks_overdue(now: datetime) -> list[RunChunk]:
    """Chunks of scoring runs, not done, whose lease ran out more than the grace before `now` (oldest first)."""
    cutoff = now - timedelta(seconds=settings.POPULATION_RECONCILE_GRACE_SECONDS)
    rows = RunChunk.objects.filter(done=False, lease_until__lt=cutoff, run__status=PopulationRun.Status.SCORING)
    return list(rows.order_by("lease_until")[:BATCH])


def chunks_reconcile(*, now: datetime | None = None) -> int:
    """Queue the overdue chunks again (at most BATCH a run), or end their run past the attempts; how many queued."""
    now = now or timezone.now()
    queued = 0
    for chunk in chunks_overdue(now):
        if chunk.attempts >= settings.POPULATION_CHUNK_MAX_ATTEMPTS:
            _run_give_up(chunk)
        else:
            queued += chunk_requeue(chunk, now)
    if queued:
        logger.warning("chunk reconciler queued %s chunk(s) of a killed or hung worker again", queued)
    return queued


def chunk_requeue(chunk: RunChunk, now: datetime) -> bool:
    """Hand the chunk's lease to a new task and queue that task; False when another reconciler was first."""
    from population.tasks import chunk_score  # the tasks module imports the services

    task_id = str(uuid.uuid4())
    until = now + timedelta(seconds=settings.POPULATION_CHUNK_TIME_LIMIT_SECONDS)
    handed = RunChunk.objects.filter(pk=chunk.pk, done=False, lease_until=chunk.lease_until).update(
        lease_until=until, lease_owner=task_id
    )
    if handed:
        chunk_score.apply_async((chunk.run_id, chunk.number), task_id=task_id)
    return bool(handed)


def _run_give_up(chunk: RunChunk) -> None:
    """The chunk was tried POPULATION_CHUNK_MAX_ATTEMPTS times without finishing: its run fails, with the reason."""
    with transaction.atomic():
        run = PopulationRun.objects.select_for_update().select_related("cohort").get(pk=chunk.run_id)
        if run.status != PopulationRun.Status.SCORING:
            return
        message = f"Chunk {chunk.number} was not scored in {chunk.attempts} attempts (each killed, hung or failed)."
        run_end(run, PopulationRun.Status.FAILED, {"message": message, "chunk": chunk.number})
    logger.warning("population run %s failed: %s", run.pk, message)


def chunks_reconcile_background_start() -> bool:
    """Embedded default only (chunks are scored eagerly in the serving process, no beat): run the reconciler in
    this process every POPULATION_RECONCILE_INTERVAL_SECONDS, where a re-queued chunk is scored in its thread.
    Called where a serving process starts (gunicorn's post_fork); once."""
    return periodic_start("population-chunk-reconciler", "POPULATION_RECONCILE_INTERVAL_SECONDS", chunks_reconcile)
