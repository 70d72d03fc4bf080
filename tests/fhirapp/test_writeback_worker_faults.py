"""Real Celery workers meet faults: one SIGKILLed in the middle of a write-back, one busy on a hung EHR.

A killed worker's write-back is queued again by the reconciler once its lease runs out, and the EHR gets it once
(the retry finds what the killed attempt committed). /readyz counts a worker that is busy (a ping would not).
Real parts: Redis (broker), PostgreSQL, `celery worker` processes, a loopback EHR that counts transactions.
"""

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from config.celery import app
from config.health import celery_broker_status
from config.worker_heartbeat import STALE_AFTER_SECONDS, broker_redis_url, workers_alive
from fhirapp.models import WriteBack
from fhirapp.services.writeback import write_back_enqueue
from fhirapp.services.writeback_reconcile import write_back_reconcile
from tests.conftest import _wait_for_worker, celery_worker_start, worker_node
from tests.fhirapp.conftest import sepsis_result
from tests.loopback_ehr import LoopbackEhr, loopback_ehr

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
LEASE_SECONDS = 3  # the attempt's time limit, hence its lease: short, so that the test does not wait long


@pytest.fixture
def ehr(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[LoopbackEhr]:
    """Requested before the worker fixture, so that the workers' environment registers this EHR."""
    with loopback_ehr() as running:
        monkeypatch.setenv("OUTBOUND_ALLOWED_BASES", running.base)
        monkeypatch.setenv("WRITEBACK_TASK_TIME_LIMIT_SECONDS", str(LEASE_SECONDS))
        monkeypatch.setenv("WRITEBACK_RETRY_BASE_SECONDS", "0.2")
        monkeypatch.setenv("WRITEBACK_RETRY_MAX_SECONDS", "1")
        settings.OUTBOUND_ALLOWED_BASES = [running.base]
        settings.WRITEBACK_TASK_TIME_LIMIT_SECONDS = LEASE_SECONDS
        settings.WRITEBACK_RECONCILE_GRACE_SECONDS = 1
        yield running


def _enqueue(ehr: LoopbackEhr) -> WriteBack:
    write_back = write_back_enqueue(
        result=sepsis_result(),
        patient_id="p-worker",
        encounter_id=None,
        fhir_base_url=ehr.base,
        source="sidebar",
        service_id="sidebar",
        user_token="a-user-token-the-loopback-ehr-accepts",
    )
    assert write_back is not None
    return write_back


def _wait_status(write_back: WriteBack, timeout: float) -> WriteBack:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        write_back.refresh_from_db()
        if write_back.status != WriteBack.Status.PENDING:
            return write_back
        time.sleep(0.2)
    return write_back


def test_a_worker_killed_mid_write_back_is_reconciled_and_the_ehr_gets_it_once(
    ehr: LoopbackEhr, celery_worker_process: subprocess.Popen[bytes], child_process_env: dict[str, str]
) -> None:
    ehr.state.hold.set()  # the EHR commits the Bundle, then holds its answer: the worker is killed waiting for it
    write_back = _enqueue(ehr)
    assert ehr.state.held.wait(30), "the worker never reached the EHR"
    os.kill(celery_worker_process.pid, signal.SIGKILL)
    celery_worker_process.wait(timeout=10)
    ehr.state.release()
    write_back.refresh_from_db()
    assert write_back.status == "pending" and write_back.attempts == 1 and write_back.lease_until is not None
    assert write_back_reconcile() == 0  # its lease still holds: nobody may take it yet

    queue = str(app.conf.task_default_queue)
    env = {**child_process_env, "CELERY_TASK_ALWAYS_EAGER": "false", "CELERY_TASK_DEFAULT_QUEUE": queue}
    second = celery_worker_start(env, queue, name=f"{queue}-second")
    try:
        _wait_for_worker(app, second, worker_node(f"{queue}-second"))
        time.sleep(LEASE_SECONDS + 1.5)  # the lease and the grace run out
        assert write_back_reconcile() == 1
        write_back = _wait_status(write_back, 60)
    finally:
        second.terminate()
        second.wait(timeout=20)
    assert write_back.status == "succeeded", (write_back.status, write_back.last_error)
    assert write_back.attempts == 2
    assert ehr.state.transactions == 1  # the retry found what the killed attempt had committed
    assert ehr.state.count("RiskAssessment") == ehr.state.count("Provenance") == 1


def test_readyz_counts_a_worker_busy_on_a_hung_ehr(
    ehr: LoopbackEhr, celery_worker_process: subprocess.Popen[bytes], settings: Any
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = False  # readiness reads the setting: a deployment with workers
    ehr.state.hang.set()
    write_back = _enqueue(ehr)
    deadline = time.monotonic() + 30
    while WriteBack.objects.get(pk=write_back.pk).attempts < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        assert app.control.ping(timeout=0.3) == []  # busy in its task, the solo worker answers no ping
        status = celery_broker_status()
        assert status["status"] == "ok" and status["workers"] >= 1, status
    finally:
        ehr.state.hang.clear()  # let the task end, so that the worker's warm shutdown is prompt
    url = broker_redis_url(app)
    assert url is not None
    assert workers_alive(url, now=time.time() + STALE_AFTER_SECONDS + 1) == 0  # a worker gone silent stops counting
