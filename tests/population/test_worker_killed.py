"""A worker killed (SIGKILL) in the middle of a chunk: the chunk's message was not acknowledged (acks_late), so
Redis delivers it again after the visibility timeout to another worker, which scores it; no patient is lost and
none is scored twice (results, audit records and the `done` flag commit together)."""

import signal
import time
from typing import Any

import pytest

from audit.models import AuditRecord
from fhirapp.bulk import Manifest
from population.models import PatientResult, PopulationRun, RunChunk
from population.services import runs
from tests.conftest import WorkerStart
from tests.population.conftest import MODELS

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
VISIBILITY = {"CELERY_VISIBILITY_TIMEOUT_SECONDS": "3"}


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
    run.refresh_from_db()
    assert run.status == PopulationRun.Status.COMPLETED, run.error
    killed.refresh_from_db()
    assert killed.done and killed.attempts == 2
    assert run.patients_scored == run.patients_total == 4 and run.chunks_done == run.chunks_total
    results = list(PatientResult.objects.filter(run=run).values_list("patient_id", "model_name"))
    assert len(results) == len(set(results)) == 4 * len(MODELS)
    scored = AuditRecord.objects.filter(action="score", detail__population_run=run.pk)
    assert scored.count() == 4 * len(MODELS)  # one record per inference: none from the killed attempt
