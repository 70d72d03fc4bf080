"""The chunk reconciler on its own, in the embedded default's way (Celery eager, the reconciler in this process):
a chunk whose attempt stalled holding its lease is left alone until the lease and the grace have run out, then
queued again and scored once; a duplicate message never works beside a live lease; a chunk that never finishes
ends its run as failed. The chunks wait in a Redis queue that no worker consumes (where a worker would take them).
"""

import os
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from audit.models import AuditRecord
from config.celery import app
from fhirapp.bulk import Manifest
from population.models import PatientResult, PopulationRun, RunChunk
from population.services import runs
from population.services.reconcile import chunks_reconcile, chunks_reconcile_background_start
from population.services.scoring import chunk_claim, chunk_score
from population.tasks import chunk_score as chunk_score_task
from tests.population.conftest import MODELS

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queued(ehr: dict[str, Any]) -> Iterator[PopulationRun]:
    """A run in its scoring step, its chunks' messages waiting in a Redis queue of this test (no worker)."""
    run = runs.run_create(cohort=ehr["cohort"], since="full")
    while not isinstance(runs.run_export(run.pk), Manifest):  # eager: the sandbox writes the export in this process
        time.sleep(0.2)
    queue = f"test-{os.getpid()}-{time.monotonic_ns()}"
    app.conf.task_always_eager, app.conf.task_default_queue = False, queue
    try:
        assert runs.run_fetch(run.pk)
    finally:
        app.conf.task_always_eager, app.conf.task_default_queue = True, "celery"
    yield run
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(queue)


def _grace_after(chunk: RunChunk) -> Any:
    """A moment just past the chunk's lease plus the reconciler's grace."""
    chunk.refresh_from_db()
    assert chunk.lease_until is not None
    return chunk.lease_until + timedelta(seconds=django_settings.POPULATION_RECONCILE_GRACE_SECONDS + 1)


def test_a_stalled_chunk_is_queued_again_after_its_lease_and_scored_once(queued: PopulationRun) -> None:
    run = queued
    stalled = RunChunk.objects.get(run=run, number=0)
    assert chunk_claim(stalled.pk, "a-task-whose-worker-died")  # it took the lease, then its worker was lost
    assert chunk_score(run_id=run.pk, number=0, owner="a-duplicate-message") == 0  # the lease is live
    stalled.refresh_from_db()
    assert stalled.attempts == 1 and stalled.lease_owner == "a-task-whose-worker-died"
    assert chunks_reconcile(now=stalled.lease_until) == 0  # the lease has just run out: the grace has not

    assert chunks_reconcile(now=_grace_after(stalled)) == 1  # queued again, scored here (eager)
    stalled.refresh_from_db()
    assert stalled.done and stalled.attempts == 2 and stalled.lease_until is None
    assert chunks_reconcile(now=timezone.now() + timedelta(days=1)) == 0  # done: never queued again
    assert PatientResult.objects.filter(run=run, chunk=0).count() == stalled.patients * len(MODELS)

    chunk_score_task.delay(run.pk, 1)  # what the other chunk's waiting message does once a worker takes it
    run.refresh_from_db()
    assert run.status == PopulationRun.Status.COMPLETED and run.patients_scored == 4
    results = list(PatientResult.objects.filter(run=run).values_list("patient_id", "model_name"))
    assert len(results) == len(set(results)) == 4 * len(MODELS)
    assert AuditRecord.objects.filter(action="score", detail__population_run=run.pk).count() == 4 * len(MODELS)


def test_a_chunk_that_never_finishes_ends_its_run(queued: PopulationRun, settings: Any) -> None:
    settings.POPULATION_CHUNK_TIME_LIMIT_SECONDS = 0  # each attempt's lease runs out at once
    stuck = RunChunk.objects.get(run=queued, number=1)
    for attempt in range(settings.POPULATION_CHUNK_MAX_ATTEMPTS):
        assert chunk_claim(stuck.pk, f"attempt-{attempt}")  # each one killed, hung past its limit, or failed
    assert chunks_reconcile(now=_grace_after(stuck)) == 0
    queued.refresh_from_db()
    assert queued.status == PopulationRun.Status.FAILED and queued.error["chunk"] == 1
    assert f"not scored in {settings.POPULATION_CHUNK_MAX_ATTEMPTS} attempts" in queued.error["message"]
    ended = AuditRecord.objects.get(action="population_run", detail__run=queued.pk)
    assert ended.outcome == "failure"


def test_beat_runs_the_reconciler_with_a_broker_and_the_serving_process_does_not() -> None:
    [entry] = [e for e in django_settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "population.chunks_reconcile"]
    assert entry["schedule"] == 60.0
    app.conf.task_always_eager = False
    try:
        assert chunks_reconcile_background_start() is False
    finally:
        app.conf.task_always_eager = True
