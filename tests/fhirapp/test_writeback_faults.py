"""Faults lose no write-back: every transient failure retries, a lost one is queued again, the queue is bounded.

Real parts: the sandbox FHIR server under live_server, EHR endpoints on loopback that fail on purpose, Redis as
the broker for the queue bound, PostgreSQL for the lease.
"""

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from typing import Any

import orjson
import pytest
from django.core.management import call_command
from django.utils import timezone

from config.celery import app
from fhirapp.models import WriteBack
from fhirapp.services.writeback import write_back_claim, write_back_enqueue
from fhirapp.services.writeback_delivery import DEFERRED, write_back_dispatch, write_back_queue_length
from fhirapp.services.writeback_reconcile import write_back_reconcile
from fhirapp.tasks import TRANSIENT_ERRORS, write_back_send
from tests.fhirapp.live import enqueue, refreshed, write_token, written

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


class _Ehr(BaseHTTPRequestHandler):
    """An EHR whose SMART discovery works and whose token endpoint answers `status`."""

    status = 503

    def do_GET(self) -> None:
        port = self.server.server_address[1]  # type: ignore[index]  # an (host, port) pair for AF_INET
        body = orjson.dumps(
            {
                "authorization_endpoint": f"http://127.0.0.1:{port}/authorize",
                "token_endpoint": f"http://127.0.0.1:{port}/token",
                "capabilities": ["client-confidential-asymmetric"],
                "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
            }
        )
        self.send_response(200 if self.path.endswith("/.well-known/smart-configuration") else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = b'{"error": "invalid_client"}'
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def ehr() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Ehr", (_Ehr,), {}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("status", "attempts"), [(503, 3), (429, 3), (400, 1)])
def test_token_endpoint_transient_failures_retry(
    live: dict[str, Any], settings: Any, ehr: ThreadingHTTPServer, status: int, attempts: int, outbound_allowed: Any
) -> None:
    """SMART Backend Services token endpoint: 5xx and 429 retry with backoff, a 400 about our request is final."""
    settings.WRITEBACK_MAX_RETRIES = 2
    call_command("smart_keys", "ensure", stdout=StringIO())
    ehr.RequestHandlerClass.status = status  # type: ignore[attr-defined]
    base = f"http://127.0.0.1:{ehr.server_address[1]}/fhir"
    outbound_allowed(base)  # a registered EHR (write-back goes to no other)
    write_back = enqueue(live, user_token=None, fhir_base_url=base, source="cds", service_id="stratify-sepsis")
    assert write_back.status == "failed" and write_back.attempts == attempts, write_back.last_error
    assert write_back.last_error["code"] == "smart_token_exchange_failed"


def test_an_unreachable_ehr_retries(live: dict[str, Any], settings: Any, outbound_allowed: Any) -> None:
    """Connection refused (nothing listens): a network failure, retried until the retries run out."""
    settings.WRITEBACK_MAX_RETRIES = 2
    with ThreadingHTTPServer(("127.0.0.1", 0), _Ehr) as closed:
        port = closed.server_address[1]
    outbound_allowed(f"http://127.0.0.1:{port}/fhir")  # a registered EHR that is down
    write_back = enqueue(live, fhir_base_url=f"http://127.0.0.1:{port}/fhir")
    assert write_back.status == "failed" and write_back.attempts == 3
    assert write_back.last_error["code"] == "upstream_fhir_error"


def test_database_errors_are_transient_and_the_same_task_retakes_its_lease(live: dict[str, Any]) -> None:
    """A connection our database dropped mid-attempt is retried (same Celery task id), while a duplicate
    message of another task never runs beside a live attempt."""
    from django.db import InterfaceError, OperationalError

    assert {OperationalError, InterfaceError} <= set(TRANSIENT_ERRORS)
    write_back = enqueue(live)
    WriteBack.objects.filter(pk=write_back.pk).update(status="pending")
    assert write_back_claim(write_back.pk, "task-1")
    assert not write_back_claim(write_back.pk, "task-2")  # a duplicate while the attempt lives
    assert write_back_claim(write_back.pk, "task-1")  # the same task's retry after the connection dropped
    WriteBack.objects.filter(pk=write_back.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert write_back_claim(write_back.pk, "task-2")  # the lease ran out: the attempt is dead


def test_a_lost_write_back_is_queued_again_by_the_reconciler(live: dict[str, Any], settings: Any) -> None:
    """The state a killed worker leaves (message taken from the broker and gone, attempt started, lease run out)
    is found and delivered; a write-back whose attempt still holds its lease is left alone."""
    queue = f"test-lost-{time.monotonic_ns()}"
    app.conf.task_always_eager, app.conf.task_default_queue = False, queue
    try:  # queued in Redis, never consumed: then the messages are gone, as with a worker killed mid-attempt
        lost = write_back_enqueue(
            result=live["result"],
            patient_id=live["patient_id"],
            encounter_id="enc-lost",
            fhir_base_url=live["base"],
            source="sidebar",
            service_id="sidebar",
            user_token=write_token(),
        )
        held = write_back_enqueue(
            result=live["result"],
            patient_id=live["patient_id"],
            encounter_id="enc-held",
            fhir_base_url=live["base"],
            source="sidebar",
            service_id="sidebar",
            user_token=write_token(),
        )
        with app.connection_for_write() as conn:
            assert conn.default_channel.client.delete(queue) == 1
    finally:
        app.conf.task_always_eager, app.conf.task_default_queue = True, "celery"
    assert lost is not None and held is not None
    assert write_back_claim(lost.pk, "killed-worker-task") and write_back_claim(held.pk, "live-worker-task")
    past = timezone.now() - timedelta(seconds=settings.WRITEBACK_RECONCILE_GRACE_SECONDS + 60)
    WriteBack.objects.filter(pk=lost.pk).update(lease_until=past, next_attempt_at=past)
    WriteBack.objects.filter(pk=held.pk).update(next_attempt_at=past)  # overdue, but its attempt still runs
    assert write_back_reconcile() == 1
    assert refreshed(lost).status == "succeeded" and refreshed(held).status == "pending"
    assert len(written(live["client"], "RiskAssessment", lost.idempotency_key)) == 1
    assert write_back_reconcile() == 0  # nothing else is overdue


def test_the_queue_is_bounded_and_its_length_exposed(settings: Any, client: Any) -> None:
    """Past WRITEBACK_QUEUE_MAX messages in the broker a write-back is left pending (the reconciler's), counted."""
    settings.WRITEBACK_QUEUE_MAX = 2
    queue = f"test-bound-{time.monotonic_ns()}"
    app.conf.task_always_eager, app.conf.task_default_queue = False, queue
    deferred = DEFERRED._value.get()
    try:
        assert write_back_dispatch(10**9) and write_back_dispatch(10**9 + 1)
        time.sleep(1.1)  # the queue length is read at most once a second per process
        assert write_back_queue_length() == 2
        assert not write_back_dispatch(10**9 + 2)
        assert DEFERRED._value.get() == deferred + 1
        metrics = client.get("/metrics").content.decode()
        assert "stratify_writeback_queue_length 2.0" in metrics and "stratify_writeback_deferred_total" in metrics
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.client.delete(queue)
        app.conf.task_always_eager, app.conf.task_default_queue = True, "celery"


def test_write_back_results_are_not_stored() -> None:
    assert write_back_send.ignore_result is True
