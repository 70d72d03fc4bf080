"""The Celery path: a real worker process over Redis delivers a write-back to the live sandbox server."""

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fhirapp.models import WriteBack
from fhirapp.services.writeback import write_back_enqueue
from sandbox_ehr.fhir.faults import fault_clear, fault_inject
from smart_launch.models import EhrRegistration
from tests.fhirapp.live import fhir_base, provenances, reader, refreshed, seeded_result, write_token, written

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Autouse, so it runs before the worker fixture copies the environment."""
    monkeypatch.setenv("WRITEBACK_RETRY_BASE_SECONDS", "0.2")
    monkeypatch.setenv("WRITEBACK_RETRY_MAX_SECONDS", "1")
    fault_clear()
    yield
    fault_clear()


def _wait_finished(write_back: WriteBack, timeout: float = 60) -> WriteBack:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if refreshed(write_back).status != WriteBack.Status.PENDING:
            return write_back
        time.sleep(0.2)
    raise AssertionError(f"write-back still pending after {timeout} s (attempts={write_back.attempts})")


def _stored_results() -> int:
    from config.celery import app

    with app.connection_for_read() as conn:
        return len(conn.default_channel.client.keys("celery-task-meta-*"))


def test_worker_retries_503_and_writes_once(live_server: Any, celery_worker_process: subprocess.Popen[bytes]) -> None:
    results_before = _stored_results()
    base = fhir_base(live_server)
    # The worker is another process: it learns the sandbox is a registered EHR from the database, as in production.
    EhrRegistration.objects.create(name="Sandbox EHR", iss=base, client_id="stratify-sidebar")
    client = reader(base)
    patient_id, result = seeded_result(client)
    fault_inject(status=503, times=1, methods=("POST",))
    write_back = write_back_enqueue(
        result=result,
        patient_id=patient_id,
        encounter_id=None,
        fhir_base_url=base,
        source="sidebar",
        service_id="sidebar",
        user_token=write_token(),
    )
    assert write_back is not None
    write_back = _wait_finished(write_back)
    assert write_back.status == "succeeded", write_back.last_error
    assert write_back.attempts == 2
    assert _stored_results() == results_before  # ignore_result: nothing kept in Redis that nobody reads
    [ra] = written(client, "RiskAssessment", write_back.idempotency_key)
    assert len(provenances(client, f"RiskAssessment/{ra['id']}")) == 1
