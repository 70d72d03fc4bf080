"""gunicorn (config/gunicorn.py, 2 sync workers, persistent database connections, the embedded in-process
write-back pool) meets PostgreSQL terminating its connections, then a stop while a write-back hangs on its EHR.

- After a blip every CDS call is answered and recorded again at once (connections are health-checked before
  reuse), and during repeated blips no call gets a 5xx; every write-back of a recorded card reaches the EHR
  exactly once, none is lost.
- A stop is prompt (WRITEBACK_SHUTDOWN_GRACE_SECONDS) although a write-back hangs; that one stays pending and
  the reconciler delivers it once.
Real parts: PostgreSQL (pg_terminate_backend), gunicorn, Redis (cache, jti store), a loopback EHR that counts.
"""

import http.client
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.core.management import call_command

from fhirapp.models import WriteBack
from fhirapp.services.writeback_delivery import write_back_drain
from tests.cds_hooks.conftest import TokenFactory, fhir_server_trust, physionet_stay_resources
from tests.cds_hooks.test_service import _prefetch
from tests.fhirapp.test_writeback_blips import terminate_other_backends, write_back_reconcile_once_overdue
from tests.integration.test_gunicorn_hooks import ROOT, _free_port, _wait_until_serving
from tests.loopback_ehr import LoopbackEhr, loopback_ehr

pytestmark = [
    pytest.mark.integration,
    pytest.mark.ends_db_sessions,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]
PATH = "/cds-services/stratify-news2"


@pytest.fixture
def served(
    child_process_env: dict[str, str], models_installed: None, trusted_client: Any, tmp_path: Path
) -> Iterator[dict[str, Any]]:
    call_command("smart_keys", "ensure", stdout=StringIO())  # write-backs of CDS calls use Backend Services
    with loopback_ehr() as ehr:
        fhir_server_trust(ehr.base)  # the EHR's FHIR base, registered for its CDS client
        port = _free_port()
        env = {
            **child_process_env,
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": "2",
            "DB_CONN_MAX_AGE": "60",  # as in production: each worker keeps its connection between requests
            "WRITEBACK_SHUTDOWN_GRACE_SECONDS": "1",
            "WRITEBACK_TASK_TIME_LIMIT_SECONDS": "10",  # an attempt's lease: short, so that the test waits little
            "WRITEBACK_RECONCILE_INTERVAL_SECONDS": "1",  # each worker runs its own reconciler (nothing overdue yet)
        }
        log = (tmp_path / "gunicorn.log").open("wb")  # a file: a pipe nobody reads would fill and block the logging
        proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "--config", "config/gunicorn.py"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_serving(proc, port)
            yield {"port": port, "proc": proc, "ehr": ehr}
        finally:
            log.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _call(port: int, token: str, body: bytes) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        conn.request("POST", PATH, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, orjson.loads(response.read())
    finally:
        conn.close()


def _body(resources: list[dict[str, Any]], ehr: LoopbackEhr) -> bytes:
    """A new encounter each call: new information for the chart, hence a new write-back each time."""
    patient = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    return orjson.dumps(
        {
            "hook": "patient-view",
            "hookInstance": str(uuid.uuid4()),
            "fhirServer": ehr.base,
            "context": {"userId": "Practitioner/1", "patientId": patient, "encounterId": f"enc-{uuid.uuid4().hex}"},
            "prefetch": _prefetch(resources),
        }
    )


def _recorded(answer: dict[str, Any]) -> bool:
    """A scored card that was recorded (it has a uuid), not the degraded one."""
    return all("uuid" in card for card in answer["cards"]) and bool(answer["cards"])


def _all_delivered(ehr: LoopbackEhr, timeout: float = 90) -> set[str]:
    deadline = time.monotonic() + timeout
    statuses: set[str] = set()
    while time.monotonic() < deadline:
        statuses = set(WriteBack.objects.values_list("status", flat=True))
        if statuses == {"succeeded"}:
            break
        time.sleep(1)
        write_back_reconcile_once_overdue()  # what the workers' reconcilers do after the grace (live leases skipped)
    assert write_back_drain(30)
    return statuses


def test_blips_lose_no_call_and_no_write_back_and_a_stop_does_not_wait_for_a_hung_ehr(
    served: dict[str, Any], make_token: TokenFactory
) -> None:
    port, ehr, proc = served["port"], served["ehr"], served["proc"]
    resources = physionet_stay_resources()
    for _ in range(6):  # both workers answer and keep their connections
        status, answer = _call(port, make_token(PATH), _body(resources, ehr))
        assert status == 200 and _recorded(answer), answer

    assert terminate_other_backends() >= 2
    for _ in range(6):  # every worker's kept connection is dead: checked before reuse, replaced
        status, answer = _call(port, make_token(PATH), _body(resources, ehr))
        assert status == 200 and _recorded(answer), answer

    answers: list[tuple[int, dict[str, Any]]] = []
    stop = time.monotonic() + 8

    def caller() -> None:
        while time.monotonic() < stop:
            try:
                answers.append(_call(port, make_token(PATH), _body(resources, ehr)))
            except OSError as exc:  # no answer at all (a timeout): counted as a failure
                answers.append((0, {"error": repr(exc)}))

    callers = [threading.Thread(target=caller) for _ in range(3)]
    for thread in callers:
        thread.start()
    blips = 0
    while time.monotonic() < stop:  # connections of requests and of write-backs under way die, again and again
        blips += terminate_other_backends() > 0
        time.sleep(0.25)
    for thread in callers:
        thread.join()
    assert blips >= 10 and len(answers) >= 10
    assert {status for status, _ in answers} == {200}, [a for a in answers if a[0] != 200][:2]
    assert _all_delivered(ehr) == {"succeeded"}, list(
        WriteBack.objects.exclude(status="succeeded").values_list("status", "attempts", "last_error")
    )
    rows = WriteBack.objects.count()
    assert rows >= 12 + sum(_recorded(a) for _, a in answers)  # each recorded card has its write-back
    assert ehr.state.count("RiskAssessment") == rows == ehr.state.count("Provenance")  # once each

    ehr.state.hang.set()
    status, answer = _call(port, make_token(PATH), _body(resources, ehr))
    assert status == 200 and _recorded(answer)
    hung = WriteBack.objects.order_by("-id").first()
    assert hung is not None
    deadline = time.monotonic() + 20
    while WriteBack.objects.get(pk=hung.pk).attempts < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert time.monotonic() - started < 10, "the stop waited for a write-back hung on its EHR"
    hung.refresh_from_db()
    assert hung.status == "pending" and hung.lease_until is None
    ehr.state.hang.clear()
    assert _all_delivered(ehr) == {"succeeded"}
    assert ehr.state.count("RiskAssessment") == rows + 1
