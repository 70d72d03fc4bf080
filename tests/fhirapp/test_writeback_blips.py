"""Our database drops its connections (pg_terminate_backend) while write-backs are under way, and a process stops
while one hangs on its EHR: nothing is lost and nothing is written twice.

Real parts: PostgreSQL (the test database, whose backends are terminated for real), the in-process background
pool of the embedded default, and a loopback EHR (tests.loopback_ehr) that counts the transactions it commits.
"""

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from config.celery import app
from fhirapp.models import WriteBack
from fhirapp.services.writeback import write_back_enqueue
from fhirapp.services.writeback_delivery import (
    write_back_background_start,
    write_back_dispatch,
    write_back_drain,
    write_back_queue_length,
    write_back_reconcile_once,
    write_back_shutdown,
)
from tests.fhirapp.conftest import sepsis_result
from tests.loopback_ehr import LoopbackEhr, loopback_ehr

pytestmark = [pytest.mark.integration, pytest.mark.ends_db_sessions, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
USER_TOKEN = "a-user-token-the-loopback-ehr-accepts"


@pytest.fixture
def ehr(outbound_allowed: Any) -> Iterator[LoopbackEhr]:
    with loopback_ehr() as running:
        outbound_allowed(running.base)  # a registered EHR: write-back goes to no other
        yield running


def terminate_other_backends() -> int:
    """End every other session on the test database, as a PostgreSQL restart or failover does; how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return int(cursor.fetchone()[0])


def enqueue(ehr: LoopbackEhr, encounter: str = "enc-1") -> WriteBack:
    write_back = write_back_enqueue(
        result=sepsis_result(),
        patient_id="p-blip",
        encounter_id=encounter,
        fhir_base_url=ehr.base,
        source="sidebar",
        service_id="sidebar",
        user_token=USER_TOKEN,
    )
    assert write_back is not None
    return write_back


def test_a_connection_dropped_mid_delivery_is_retried_and_written_once(ehr: LoopbackEhr) -> None:
    """The EHR commits the Bundle and holds its answer; meanwhile our database ends the delivery thread's connection.
    The retry connects anew, finds the resources already written, and marks the row succeeded: one transaction."""
    ehr.state.hold.set()
    write_back = enqueue(ehr)
    assert ehr.state.held.wait(20), "the delivery never reached the EHR"
    assert terminate_other_backends() >= 1  # the delivery thread's own connection among them
    ehr.state.release()
    assert write_back_drain(30)
    write_back.refresh_from_db()
    assert write_back.status == "succeeded", (write_back.status, write_back.last_error)
    assert write_back.attempts == 2  # the dropped attempt, then its retry on a new connection
    assert ehr.state.transactions == 1 and ehr.state.count("Provenance") == 1


def test_many_deliveries_through_repeated_blips_lose_nothing_and_write_nothing_twice(ehr: LoopbackEhr) -> None:
    rows = [enqueue(ehr, encounter=f"enc-{i}") for i in range(12)]
    for _ in range(8):  # terminate whatever the pool threads hold, again and again, while they deliver
        terminate_other_backends()
        time.sleep(0.05)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert write_back_drain(30)
        statuses = set(WriteBack.objects.filter(pk__in=[r.pk for r in rows]).values_list("status", flat=True))
        if statuses == {"succeeded"}:
            break
        # A retry that met a dead connection too often is left pending (leased): the reconciler's, as in production.
        WriteBack.objects.filter(status="pending").update(lease_until=None)
        write_back_reconcile_once_overdue()
    assert statuses == {"succeeded"}
    assert ehr.state.count("RiskAssessment") == len(rows) == ehr.state.count("Provenance")


def write_back_reconcile_once_overdue() -> None:
    past = timezone.now() - timedelta(days=1)
    WriteBack.objects.filter(status="pending").update(next_attempt_at=past, updated_at=past)
    write_back_reconcile_once()


def test_an_exit_waits_at_most_the_grace_and_leaves_hung_deliveries_to_the_reconciler(
    ehr: LoopbackEhr, child_process_env: dict[str, str]
) -> None:
    """A process whose write-back hangs on its EHR exits within the grace (WRITEBACK_SHUTDOWN_GRACE_SECONDS);
    its row stays pending with its lease released, and the reconciler delivers it once: one transaction."""
    ehr.state.hang.set()
    script = (
        "import django, sys, time; django.setup()\n"
        "from fhirapp.models import WriteBack\n"
        "from tests.fhirapp.test_writeback_blips import enqueue_in_child\n"
        "write_back = enqueue_in_child(sys.argv[1])\n"
        "deadline = time.monotonic() + 20\n"
        "while WriteBack.objects.get(pk=write_back.pk).attempts < 1 and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        "print(write_back.pk, flush=True)\n"
        "sys.exit(0)\n"
    )
    env = {**child_process_env, "OUTBOUND_ALLOWED_BASES": ehr.base, "WRITEBACK_SHUTDOWN_GRACE_SECONDS": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", script, ehr.base], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    pk = int(child.stdout.readline())
    started = time.monotonic()
    assert child.wait(timeout=30) == 0
    assert time.monotonic() - started < 5, "the exit waited for a write-back hung on its EHR"
    write_back = WriteBack.objects.get(pk=pk)
    assert write_back.status == "pending" and write_back.lease_until is None
    ehr.state.hang.clear()
    write_back_reconcile_once_overdue()
    assert write_back_drain(30)
    write_back.refresh_from_db()
    assert write_back.status == "succeeded", write_back.last_error
    assert ehr.state.transactions == 1


def enqueue_in_child(base: str) -> WriteBack:
    """The child process's write-back (its own in-process pool delivers it)."""
    write_back = write_back_enqueue(
        result=sepsis_result(),
        patient_id="p-exit",
        encounter_id=None,
        fhir_base_url=base,
        source="sidebar",
        service_id="sidebar",
        user_token=USER_TOKEN,
    )
    assert write_back is not None
    return write_back


def test_shutdown_with_nothing_under_way_returns_at_once() -> None:
    started = time.monotonic()
    assert write_back_shutdown(grace=5) == []
    assert time.monotonic() - started < 1


def test_an_exit_with_our_database_down_leaves_the_leases_to_run_out(ehr: LoopbackEhr) -> None:
    """Nothing to release the leases with: the exit still ends within the grace; the lease runs out by itself."""
    ehr.state.hang.set()
    write_back = enqueue(ehr, encounter="enc-down")
    deadline = time.monotonic() + 20
    while WriteBack.objects.get(pk=write_back.pk).attempts < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT="9")  # nothing listens on the discard port
    try:
        assert write_back_shutdown(grace=0.2) == [write_back.pk]
    finally:
        connection.close()
        connection.settings_dict.update(HOST=saved["HOST"], PORT=saved["PORT"])
        ehr.state.hang.clear()
    assert write_back_drain(60)
    write_back.refresh_from_db()
    assert write_back.lease_until is None and write_back.status == "succeeded"


def test_the_same_write_back_queued_twice_is_outstanding_until_both_are_done(ehr: LoopbackEhr) -> None:
    ehr.state.hang.set()
    write_back = enqueue(ehr, encounter="enc-twice")
    write_back_dispatch(write_back.pk)  # the reconciler queued it again: a duplicate, harmless (lease)
    assert write_back_queue_length() == 2
    ehr.state.hang.clear()
    assert write_back_drain(60) and write_back_queue_length() == 0
    assert ehr.state.transactions == 1


def test_with_a_broker_no_reconciler_runs_in_the_serving_process() -> None:
    """Celery beat runs it then (gunicorn's post_fork starts it in the embedded default: the served blip test)."""
    app.conf.task_always_eager = False
    try:
        assert write_back_background_start() is False
    finally:
        app.conf.task_always_eager = True
