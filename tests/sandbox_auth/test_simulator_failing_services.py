"""The simulator as a CDS client facing services and a FHIR server that fail: each failure is told to the
clinician in words, the other services still answer, and prefetch keys that cannot be filled are left out."""

import json
from collections.abc import Iterator

import pytest
from django.test import Client
from joserfc import jwt
from joserfc.jwk import KeySet

from fhirapp.client import FhirClient
from sandbox_ehr.ehr.cds import ENCOUNTER_DISCHARGE, PATIENT_VIEW, hook_context, hook_fire
from tests.scripted_server import DROP, Answer, ScriptedServer, scripted_server

pytestmark = pytest.mark.django_db
PATIENT = "p-1"


@pytest.fixture
def remote(settings, outbound_allowed) -> Iterator[ScriptedServer]:
    """The CDS services (PUBLIC_BASE_URL) and, under /fhir, the FHIR server the prefetch reads (registered, as a
    real EHR's base is: loopback is otherwise refused by the outbound address policy)."""
    with scripted_server() as server:
        settings.PUBLIC_BASE_URL = server.url
        outbound_allowed(server.url)
        yield server


def _fire(remote: ScriptedServer, hook: str = PATIENT_VIEW):
    fhir = FhirClient(f"{remote.url}/fhir", "a-token", timeout=5.0)
    return hook_fire(hook, hook_context(patient_id=PATIENT, encounter_id=None), fhir=fhir)


def _discovery(*services: dict) -> Answer:
    return Answer(200, {"services": [{"hook": PATIENT_VIEW, "title": s["id"].title(), **s} for s in services]})


class DiscoveryFailureTests:
    def test_an_error_status_is_reported_with_the_services_message(self, remote: ScriptedServer) -> None:
        remote.routes["GET /cds-services"] = Answer(503, {"message": "down for maintenance"})
        outcome = _fire(remote)
        assert outcome.services == []
        assert outcome.error == (
            f"CDS discovery at {remote.url}/cds-services failed: discovery answered HTTP 503: down for maintenance"
        )

    def test_an_error_page_that_is_not_json_gives_the_status_alone(self, remote: ScriptedServer) -> None:
        remote.routes["GET /cds-services"] = Answer(502, b"<html>Bad gateway</html>", "text/html")
        assert _fire(remote).error.endswith("failed: discovery answered HTTP 502")

    def test_a_document_without_a_services_list_is_refused(self, remote: ScriptedServer) -> None:
        remote.routes["GET /cds-services"] = Answer(200, {"services": {"news2": {}}})
        assert _fire(remote).error.endswith("failed: discovery response has no services list")

    def test_no_service_for_the_hook(self, remote: ScriptedServer) -> None:
        remote.routes["GET /cds-services"] = _discovery({"id": "other"})
        outcome = _fire(remote, ENCOUNTER_DISCHARGE)
        assert not outcome.services
        assert outcome.error == "The CDS discovery endpoint lists no encounter-discharge service."


class ServiceFailureTests:
    def test_each_failing_service_is_reported_and_the_others_still_answer(self, remote: ScriptedServer) -> None:
        remote.routes.update(
            {
                "GET /cds-services": _discovery(
                    {"id": "down"}, {"id": "garbage"}, {"id": "gone"}, {"id": "odd"}, {"id": "fine"}
                ),
                "POST /cds-services/down": Answer(500, {"message": "model crashed"}),
                "POST /cds-services/garbage": Answer(200, b"cards: none", "text/plain"),
                "POST /cds-services/gone": DROP,
                "POST /cds-services/odd": Answer(200, {"cards": {"summary": "not a list"}}),
                "POST /cds-services/fine": Answer(200, {"cards": [{"summary": "Low risk"}, "not a card"]}),
            }
        )
        by_id = {s.service_id: s for s in _fire(remote).services}
        assert by_id["down"].error == "The service answered HTTP 500: model crashed."
        assert by_id["garbage"].error == "The service's answer is not CDS Hooks JSON."
        assert by_id["gone"].error == "The service could not be reached (ConnectionError)."
        assert (by_id["odd"].error, by_id["odd"].cards) == ("", [])
        assert (by_id["fine"].error, by_id["fine"].cards) == ("", [{"summary": "Low risk"}])
        assert by_id["fine"].title == "Fine" and by_id["fine"].url == f"{remote.url}/cds-services/fine"

    def test_every_call_is_signed_for_its_own_service_url(self, remote: ScriptedServer, client: Client) -> None:
        remote.routes.update(
            {"GET /cds-services": _discovery({"id": "fine"}), "POST /cds-services/fine": Answer(200, {"cards": []})}
        )
        _fire(remote)
        call = next(r for r in remote.requests if r.method == "POST")
        token = call.headers["Authorization"].removeprefix("Bearer ")
        published = KeySet.import_key_set(client.get("/sandbox/ehr/.well-known/jwks.json").json())
        claims = jwt.decode(token, published, algorithms=["ES384"]).claims
        assert claims["aud"] == f"{remote.url}/cds-services/fine"
        assert claims["iss"] == f"{remote.url}/sandbox/ehr"
        body = json.loads(call.body)
        assert body["hook"] == PATIENT_VIEW and body["context"]["patientId"] == PATIENT
        assert body["fhirAuthorization"]["scope"] == "patient/*.rs" and body["fhirAuthorization"]["access_token"]


class PrefetchFailureTests:
    def test_keys_without_a_value_or_refused_by_the_fhir_server_are_left_out(self, remote: ScriptedServer) -> None:
        remote.routes.update(
            {
                "GET /cds-services": _discovery(
                    {
                        "id": "risk",
                        "prefetch": {
                            "patient": "Patient/{{context.patientId}}",
                            "encounter": "Encounter/{{context.encounterId}}",  # no encounter in the context
                            "conditions": "Condition?patient={{context.patientId}}",  # the FHIR server answers 403
                        },
                    }
                ),
                f"GET /fhir/Patient/{PATIENT}": Answer(200, {"resourceType": "Patient", "id": PATIENT}),
                "GET /fhir/Condition": Answer(403, {"resourceType": "OperationOutcome"}),
                "POST /cds-services/risk": Answer(200, {"cards": []}),
            }
        )
        service = _fire(remote).services[0]
        assert (service.error, service.prefetched) == ("", ["patient"])
        sent = json.loads(next(r for r in remote.requests if r.method == "POST").body)
        assert sent["prefetch"] == {"patient": {"resourceType": "Patient", "id": PATIENT}}

    def test_a_failing_fhir_server_calls_the_service_without_prefetch_and_says_so(self, remote: ScriptedServer) -> None:
        remote.routes.update(
            {
                "GET /cds-services": _discovery(
                    {"id": "risk", "prefetch": {"patient": "Patient/{{context.patientId}}"}}
                ),
                f"GET /fhir/Patient/{PATIENT}": Answer(500, {"resourceType": "OperationOutcome"}),
                "POST /cds-services/risk": Answer(200, {"cards": [{"summary": "Scored without prefetch"}]}),
            }
        )
        service = _fire(remote).services[0]
        assert service.error.startswith("Prefetch failed (") and "the service was called without it" in service.error
        assert service.prefetched == [] and service.cards == [{"summary": "Scored without prefetch"}]
        assert json.loads(next(r for r in remote.requests if r.method == "POST").body)["prefetch"] == {}
