"""Write-back against the sandbox FHIR server over real HTTP, with injected failures and a failing EHR."""

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

from audit.models import AuditRecord
from config.keys import decrypt_text, encrypt_text
from fhirapp.client import FhirClient
from fhirapp.models import WriteBack
from fhirapp.services import writeback_delivery
from fhirapp.services.writeback import write_back_deliver
from fhirapp.services.writeback_delivery import write_back_dispatch, write_back_drain, write_back_shutdown
from fhirapp.services.writeback_reconcile import write_back_reconcile
from fhirapp.tasks import eager_backoff_seconds
from sandbox_ehr.fhir.faults import fault_clear, fault_inject
from tests.fhirapp.live import (
    OPERATION_OUTCOME,
    enqueue,
    provenances,
    write_token,
    written,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _no_faults() -> Iterator[None]:
    fault_clear()
    yield
    fault_clear()


class WriteBackLiveTests:
    def test_writes_three_resources_in_one_transaction(self, live: dict[str, Any]) -> None:
        write_back = enqueue(live)
        assert write_back.status == "succeeded" and write_back.attempts == 1
        [ra] = written(live["client"], "RiskAssessment", write_back.idempotency_key)
        [obs] = written(live["client"], "Observation", write_back.idempotency_key)
        assert ra["prediction"][0]["probabilityDecimal"] == 0.3412
        assert [b["reference"] for b in ra["basis"]] == list(live["result"].basis)
        assert [d["reference"] for d in obs["derivedFrom"]] == list(live["result"].basis)
        [prov] = provenances(live["client"], f"RiskAssessment/{ra['id']}")
        assert {t["reference"] for t in prov["target"]} == {f"RiskAssessment/{ra['id']}", f"Observation/{obs['id']}"}
        assert sorted(write_back.resource_refs)[0].startswith("Observation/")
        assert write_back.user_token_encrypted == ""
        audit = AuditRecord.objects.get(action="write_back")
        assert audit.outcome == "success" and audit.detail["write_back_id"] == write_back.pk

    def test_503_then_success_writes_exactly_one(self, live: dict[str, Any]) -> None:
        fault_inject(status=503, times=1, methods=("POST",))
        write_back = enqueue(live)
        assert write_back.status == "succeeded" and write_back.attempts == 2
        [ra] = written(live["client"], "RiskAssessment", write_back.idempotency_key)
        assert len(written(live["client"], "Observation", write_back.idempotency_key)) == 1
        assert len(provenances(live["client"], f"RiskAssessment/{ra['id']}")) == 1

    def test_429_is_transient(self, live: dict[str, Any]) -> None:
        fault_inject(status=429, times=1, methods=("POST",))
        write_back = enqueue(live)
        assert write_back.status == "succeeded" and write_back.attempts == 2

    def test_400_is_never_retried_and_keeps_the_operation_outcome(self, live: dict[str, Any]) -> None:
        fault_inject(status=400, times=3, methods=("POST",), body=OPERATION_OUTCOME)
        write_back = enqueue(live)
        assert write_back.status == "failed" and write_back.attempts == 1
        assert write_back.last_error["extra"]["upstream_status"] == 400
        assert write_back.last_error["extra"]["operation_outcome"] == OPERATION_OUTCOME
        assert written(live["client"], "RiskAssessment", write_back.idempotency_key) == []
        assert AuditRecord.objects.get(action="write_back").outcome == "failure"

    def test_5xx_until_retries_run_out_marks_failed(self, live: dict[str, Any], settings: Any) -> None:
        settings.WRITEBACK_MAX_RETRIES = 2
        fault_inject(status=503, times=10, methods=("POST",))
        write_back = enqueue(live)
        assert write_back.status == "failed" and write_back.attempts == 3
        assert write_back.last_error["extra"]["upstream_status"] == 503

    def test_duplicate_enqueue_and_redelivery_write_once(self, live: dict[str, Any]) -> None:
        first = enqueue(live)
        second = enqueue(live)
        assert first.pk == second.pk and second.attempts == 1
        # A redelivered task whose first answer was lost: the row is pending again, the EHR has it all.
        WriteBack.objects.filter(pk=first.pk).update(status="pending", user_token_encrypted=encrypt_text(write_token()))
        again = write_back_deliver(write_back_id=first.pk)
        assert again.status == "succeeded"
        [ra] = written(live["client"], "RiskAssessment", first.idempotency_key)
        assert len(written(live["client"], "Observation", first.idempotency_key)) == 1
        assert len(provenances(live["client"], f"RiskAssessment/{ra['id']}")) == 1

    def test_conditional_create_alone_dedupes(self, live: dict[str, Any]) -> None:
        """Even without our pre-check, a resent Bundle is deduplicated by the EHR on the identifier."""
        write_back = enqueue(live)
        bundle = orjson.loads(decrypt_text(write_back.payload_encrypted))
        bundle["entry"] = bundle["entry"][:2]  # RiskAssessment + Observation, both conditional
        try:
            FhirClient(live["base"], token=write_token()).transaction(bundle)
        except Exception as exc:
            raise AssertionError(getattr(exc, "extra", exc)) from exc
        assert len(written(live["client"], "RiskAssessment", write_back.idempotency_key)) == 1
        assert len(written(live["client"], "Observation", write_back.idempotency_key)) == 1


def test_backend_services_token_path(live_server: Any, settings: Any, live: dict[str, Any]) -> None:
    """No user token: the task gets a SMART Backend Services token from the sandbox."""
    settings.PUBLIC_BASE_URL = live_server.url
    call_command("sandbox_setup", stdout=StringIO())
    call_command("smart_demo_setup", stdout=StringIO())
    write_back = enqueue(live, user_token=None, source="cds", service_id="stratify-sepsis")
    assert write_back.status == "succeeded", write_back.last_error
    assert len(written(live["client"], "RiskAssessment", write_back.idempotency_key)) == 1


class _FailingEhr(BaseHTTPRequestHandler):
    """An EHR whose every endpoint (SMART discovery included) answers `status`."""

    status = 503

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def failing_ehr(outbound_allowed: Any) -> Iterator[ThreadingHTTPServer]:
    """A registered EHR (on loopback) that fails: discovery failures, not the address policy, are tested."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Ehr", (_FailingEhr,), {}))
    outbound_allowed(f"http://127.0.0.1:{server.server_address[1]}/fhir")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("status", "attempts"), [(503, 3), (429, 3), (404, 1)])
def test_backend_discovery_failure(
    live: dict[str, Any], settings: Any, failing_ehr: ThreadingHTTPServer, status: int, attempts: int
) -> None:
    """No user token and an EHR whose SMART discovery fails: transient answers retry, a 404 fails at once."""
    settings.WRITEBACK_MAX_RETRIES = 2
    failing_ehr.RequestHandlerClass.status = status  # type: ignore[attr-defined]
    base = f"http://127.0.0.1:{failing_ehr.server_address[1]}/fhir"
    write_back = enqueue(live, user_token=None, fhir_base_url=base, source="cds", service_id="stratify-sepsis")
    assert write_back.status == "failed" and write_back.attempts == attempts
    assert write_back.last_error["code"] == "smart_discovery_failed"
    assert AuditRecord.objects.get(action="write_back").outcome == "failure"


class EagerBackoffTests:
    """The embedded default (no broker): a retry after an EHR failure waits its backoff, never back to back."""

    @pytest.fixture
    def waiting(self, live: dict[str, Any], settings: Any) -> WriteBack:
        """A write-back whose first attempt got a 503, its retry waiting out an hour-long backoff."""
        settings.WRITEBACK_RETRY_BASE_SECONDS = 3600.0
        settings.WRITEBACK_RETRY_MAX_SECONDS = 7200.0
        fault_inject(status=503, times=5, methods=("POST",))
        write_back = enqueue(live, drain=False)
        for _ in range(400):
            if write_back.pk in writeback_delivery._POOL.timers:
                break
            time.sleep(0.05)
        write_back.refresh_from_db()
        return write_back

    def test_a_503_leaves_the_row_pending_until_its_backoff_ends(self, waiting: WriteBack, settings: Any) -> None:
        assert waiting.status == "pending" and waiting.attempts == 1, waiting.last_error
        assert waiting.last_error["extra"]["upstream_status"] == 503
        assert waiting.next_attempt_at is not None
        assert waiting.next_attempt_at >= timezone.now() + timedelta(minutes=29)  # at least half of the hour
        assert not write_back_drain(0.5)  # the retry is outstanding, not run
        waiting.refresh_from_db()
        assert waiting.attempts == 1
        fault_clear()
        # The process is gone, say: past its due time the reconciler delivers it, replacing the waiting retry.
        due = waiting.next_attempt_at + timedelta(seconds=settings.WRITEBACK_RECONCILE_GRACE_SECONDS + 1)
        assert write_back_reconcile(now=due) == 1
        assert write_back_drain(30)
        waiting.refresh_from_db()
        assert waiting.status == "succeeded" and waiting.attempts == 2
        assert waiting.pk not in writeback_delivery._POOL.timers

    def test_an_exit_keeps_a_waiting_retry_due_when_it_was(self, waiting: WriteBack) -> None:
        due = waiting.next_attempt_at
        assert waiting.pk in write_back_shutdown(grace=0.1)
        waiting.refresh_from_db()
        assert waiting.status == "pending" and waiting.next_attempt_at == due
        fault_clear()
        write_back_dispatch(waiting.pk)  # delivered now, the waiting retry dropped (the pool drains again)
        assert write_back_drain(30)
        waiting.refresh_from_db()
        assert waiting.status == "succeeded"

    @pytest.mark.parametrize("attempts", [1, 2, 5, 12])
    def test_the_backoff_doubles_with_half_of_it_jittered(self, settings: Any, attempts: int) -> None:
        settings.WRITEBACK_RETRY_BASE_SECONDS, settings.WRITEBACK_RETRY_MAX_SECONDS = 30.0, 3600.0
        cap = min(3600.0, 30.0 * 2 ** (attempts - 1))
        assert all(cap / 2 <= eager_backoff_seconds(attempts) <= cap for _ in range(200))
