"""A population run on a real Celery worker over Redis: the sandbox's export task, the run's export/download
task and every chunk task travel through the broker; HTTP to the sandbox on the live server."""

import subprocess
import time
from typing import Any

import pytest

from population.models import PatientResult, PopulationRun
from population.services import runs
from tests.population.conftest import MODELS

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_full_run_on_a_real_worker(
    ehr: dict[str, Any], settings: Any, celery_worker_process: subprocess.Popen[bytes]
) -> None:
    run = runs.run_start(cohort=ehr["cohort"], since="full")
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status not in runs.ACTIVE:
            break
        time.sleep(0.5)
    assert run.status == PopulationRun.Status.COMPLETED, (run.status, run.error)
    assert run.chunks_done == run.chunks_total == 2
    assert PatientResult.objects.filter(run=run).count() == 4 * len(MODELS)
