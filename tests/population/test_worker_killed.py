"""A worker killed (SIGKILL) or hung (SIGSTOP) in the middle of a chunk: no patient is lost and none is scored
twice (results, audit records and the `done` flag commit together, under the chunk's row lock).

The chunk's message was not acknowledged (acks_late), so Redis delivers it again after the visibility timeout; long
before that (an hour by default), once the attempt's lease (the chunk task's time limit) has run out plus the grace,
the chunk reconciler queues it again to another worker. A hung worker that wakes up finds the chunk scored.
"""

import signal
import time
from typing import Any

import pytest

from audit.models import AuditRecord
from config.celery import app
from fhirapp.bulk import Manifest
from population.models import PatientResult, PopulationRun, RunChunk
from population.services import runs
from population.services.reconcile import chunks_reconcile
from tests.conftest import WorkerStart
from tests.population.conftest import MODELS

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
VISIBILITY = {"CELERY_VISIBILITY_TIMEOUT_SECONDS": "3"}
LEASE_SECONDS = 3  # the chunk task's time limit, hence its attempt's lease: short, so that the test waits little
LEASED = {"CELERY_VISIBILITY_TIMEOUT_SECONDS": "3600", "POPULATION_CHUNK_TIME_LIMIT_SECONDS": str(LEASE_SECONDS)}


def _until(condition: Any, seconds: float, step: float = 0.02) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(step)


def test_chunk_of_a_killed_worker_is_scored_once_by_another(ehr: dict[str, Any], celery_workers: WorkerStart) -> None:
    doomed = celery_workers(**VISIBILITY)
    run = runs.run_create(cohort=ehr["cohort"], since="full")
    _until(lambda: isinstance(runs.run_export(run.pk), Manifest), 120, step=0.5)  # the worker writes the export
    assert runs.run_fetch(run.pk)  # the chunks go to the broker

    def started() -> bool:
        return RunChunk.objects.filter(run=run, attempts__gte=1, done=False).exists()

    _until(started, 120)  # the worker loads the models and scores: kill it in the middle
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    killed = RunChunk.objects.get(run=run, attempts__gte=1, done=False)
    assert not PatientResult.objects.filter(run=run, chunk=killed.number).exists()

    celery_workers(**VISIBILITY)  # restores the unacknowledged chunk once its visibility timeout has passed
    _until(lambda: PopulationRun.objects.get(pk=run.pk).status not in runs.ACTIVE, 180, step=0.5)
    _assert_scored_once(run, killed)


def _assert_scored_once(run: PopulationRun, stalled: RunChunk) -> None:
    """The run completed, the stalled chunk in two attempts, every patient's results and audit records once."""
    run.refresh_from_db()
    assert run.status == PopulationRun.Status.COMPLETED, run.error
    stalled.refresh_from_db()
    assert stalled.done and stalled.attempts == 2
    assert run.patients_scored == run.patients_total == 4 and run.chunks_done == run.chunks_total
    results = list(PatientResult.objects.filter(run=run).values_list("patient_id", "model_name"))
    assert len(results) == len(set(results)) == 4 * len(MODELS)
    scored = AuditRecord.objects.filter(action="score", detail__population_run=run.pk)
    assert scored.count() == 4 * len(MODELS)  # one record per inference: none from the stalled attempt


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "hung"])
def test_a_stalled_chunk_is_queued_again_by_the_reconciler_not_after_the_visibility_timeout(
    ehr: dict[str, Any], celery_workers: WorkerStart, settings: Any, stop: signal.Signals
) -> None:
    settings.POPULATION_CHUNK_TIME_LIMIT_SECONDS = LEASE_SECONDS
    settings.POPULATION_RECONCILE_GRACE_SECONDS = 1
    doomed = celery_workers(**LEASED)
    run = runs.run_create(cohort=ehr["cohort"], since="full")
    _until(lambda: isinstance(runs.run_export(run.pk), Manifest), 120, step=0.5)
    assert runs.run_fetch(run.pk)
    _until(lambda: RunChunk.objects.filter(run=run, attempts__gte=1, done=False).exists(), 120)
    doomed.send_signal(stop)  # in the middle of its chunk: its message stays unacknowledged for an hour
    stalled = RunChunk.objects.get(run=run, attempts__gte=1, done=False)
    assert stalled.lease_until is not None
    first_owner = stalled.lease_owner  # the stalled attempt's task id
    assert chunks_reconcile(now=stalled.lease_until) == 0  # the lease has just run out: the grace has not

    _until(lambda: chunks_reconcile() == 1, 60, step=0.2)  # the lease and the grace have run out: queued again
    stalled.refresh_from_db()
    assert (
        stalled.lease_owner not in ("", first_owner) and not stalled.done
    )  # handed to the new task, which no other message may take
    celery_workers(**LEASED)  # scores the other chunk and the stalled one
    _until(lambda: PopulationRun.objects.get(pk=run.pk).status not in runs.ACTIVE, 180, step=0.5)
    if stop == signal.SIGSTOP:  # the hung worker wakes up, ends its attempt, finds the chunk scored: writes nothing
        doomed.send_signal(signal.SIGCONT)
        assert app.AsyncResult(first_owner).get(timeout=120) == 0
    _assert_scored_once(run, stalled)
