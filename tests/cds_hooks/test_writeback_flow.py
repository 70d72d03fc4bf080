"""Write-back through CDS calls: one set of resources per new assessment, never twice, never in the request path."""

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
import requests

from cds_hooks.models import TrustedCdsClient
from fhirapp.models import WriteBack
from fhirapp.services.writeback_delivery import write_back_drain
from tests.cds_hooks.conftest import TokenFactory, fhir_server_trust, physionet_stay_resources
from tests.cds_hooks.test_service import _call, _prefetch, _request, lint_cards

pytestmark = pytest.mark.integration
EHR = "https://ehr.example.org/fhir"


def _vital(patient_id: str, code: str, value: float, unit: str, tag: str = "late") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"{tag}-{code}",
        "status": "final",
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": datetime.now(UTC).isoformat(timespec="seconds"),
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


def _body(resources: list[dict[str, Any]], hook_instance: str | None = None, fhir_server: str = EHR) -> dict[str, Any]:
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    body = _request(patient_id, _prefetch(resources), fhirServer=fhir_server)
    body["hookInstance"] = hook_instance or str(uuid.uuid4())
    return body


@pytest.mark.django_db
def test_ten_chart_opens_write_once_a_changed_band_once_more_a_repeated_hook_instance_never(
    models_installed: None,
    trusted_client: TrustedCdsClient,
    make_token: TokenFactory,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Every chart open wrote a new RiskAssessment (the key hashed the call's time); a repeated hookInstance too."""
    stay = physionet_stay_resources(septic=False)
    patient_id = next(r["id"] for r in stay if r["resourceType"] == "Patient")
    resources = [*stay, _vital(patient_id, "8310-5", 37.0, "Cel", tag="now")]  # its temperature is 12 h old
    with django_capture_on_commit_callbacks(execute=False) as callbacks:  # queued, never sent off this host
        cards = [lint_cards(_call(make_token, "stratify-news2", _body(resources)).json())[0] for _ in range(10)]
        assert WriteBack.objects.count() == 1
        assert "**Chart:** Written to the chart as a new RiskAssessment (first assessment" in cards[0]["detail"]
        assert all("**Chart:** Not written to the chart again (same inputs" in c["detail"] for c in cards[1:])
        better = [
            *resources,
            *(
                _vital(patient_id, code, value, unit)
                for code, value, unit in (
                    ("9279-1", 16, "/min"),
                    ("8867-4", 75, "/min"),
                    ("59408-5", 98, "%"),
                    ("2708-6", 98, "%"),
                    ("8480-6", 125, "mm[Hg]"),
                )
            ),
        ]
        body = _body(better, hook_instance="repeated")
        [changed] = lint_cards(_call(make_token, "stratify-news2", body).json())
        [again] = lint_cards(_call(make_token, "stratify-news2", body).json())
    assert changed["indicator"] != cards[0]["indicator"] and "band changed" in changed["detail"]
    assert "this CDS hook call was already answered" in again["detail"]
    rows = list(WriteBack.objects.order_by("id"))
    assert len(rows) == 2 and len(callbacks) == 2
    assert rows[1].supersedes_id == rows[0].pk and rows[1].hook_instance == "repeated"
    assert {r.source for r in rows} == {WriteBack.Source.CDS}  # was "cds-hooks", not one of the model's choices


class HungFhirServer:
    """A FHIR server that holds every request until released: `reached` when one arrives, `done` when answered."""

    def __init__(self) -> None:
        self.reached, self.release, self.done = threading.Event(), threading.Event(), threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _hang(self) -> None:
                outer.reached.set()
                outer.release.wait(20)
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                outer.done.set()

            do_GET = do_POST = _hang

            def log_message(self, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/fhir"


@pytest.fixture
def hung_fhir_server() -> Iterator[HungFhirServer]:
    server = HungFhirServer()
    threading.Thread(target=server.httpd.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.release.set()
        server.httpd.shutdown()
        server.httpd.server_close()


@pytest.mark.django_db(transaction=True)
def test_a_hung_write_target_never_holds_the_cds_answer(
    live_server: Any,
    settings: Any,
    models_installed: None,
    trusted_client: TrustedCdsClient,
    make_token: TokenFactory,
    hung_fhir_server: HungFhirServer,
) -> None:
    """In the embedded default (eager Celery, no broker) the write-back ran inside the request: a CDS call whose
    fhirServer hung answered only when the EHR did. Now the answer comes while the write target still hangs."""
    settings.PUBLIC_BASE_URL = live_server.url
    settings.WRITEBACK_MAX_RETRIES = 0
    path = "/cds-services/stratify-news2"
    fhir_server_trust(hung_fhir_server.url)
    body = _body(physionet_stay_resources(), fhir_server=hung_fhir_server.url)
    response = requests.post(
        live_server.url + path,
        data=orjson.dumps(body),
        timeout=60,
        headers={"Authorization": f"Bearer {make_token(path)}", "Content-Type": "application/json"},
    )
    answered_while_hung = not hung_fhir_server.done.is_set()
    assert response.status_code == 200 and lint_cards(response.json())
    assert answered_while_hung, "the CDS answer waited for the EHR's write target"
    assert hung_fhir_server.reached.wait(30), "the write-back never reached the write target"
    hung_fhir_server.release.set()
    assert write_back_drain()
    assert WriteBack.objects.get().status == WriteBack.Status.FAILED
