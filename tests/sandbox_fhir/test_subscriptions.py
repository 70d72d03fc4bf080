"""Topic-based Subscriptions of the sandbox (Subscriptions R5 Backport IG, R4): profile checks, handshake,
event notifications (full-resource, id-only, empty), patient filters, heartbeats, errors after failed
deliveries, re-activation, `$status`, `$events`, topics as Basic, `_lastUpdated` search.

Deliveries go over real HTTP to a scripted loopback receiver; `dispatch_once` is the dispatcher thread's round,
called here in the test's thread.
"""

import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from sandbox_ehr.fhir import subscription_delivery
from sandbox_ehr.fhir.models import SubscriptionEvent, SubscriptionState
from sandbox_ehr.fhir.subscription_delivery import dispatch_once, dispatcher_stop
from sandbox_ehr.fhir.subscription_topics import TOPICS, topics_publish
from sandbox_ehr.fhir.subscriptions import CONTENT_EXT, FILTER_EXT, HEARTBEAT_EXT, MAX_COUNT_EXT, TIMEOUT_EXT
from tests.sandbox_fhir.conftest import Fhir
from tests.scripted_server import Answer, ScriptedServer, scripted_server

pytestmark = pytest.mark.django_db
VITALS, LABS, ENCOUNTERS = (t.url for t in TOPICS)


@pytest.fixture
def receiver(outbound_allowed: Callable[[str], None]) -> Iterator[ScriptedServer]:
    with scripted_server() as server:
        outbound_allowed(server.url)
        server.routes["POST /hook"] = Answer(200, {})
        yield server


def subscription(
    endpoint: str,
    topic: str = VITALS,
    *,
    content: str = "full-resource",
    patient: str | None = None,
    heartbeat: int | None = None,
    status: str = "requested",
) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "type": "rest-hook",
        "endpoint": endpoint,
        "payload": "application/fhir+json",
        "_payload": {"extension": [{"url": CONTENT_EXT, "valueCode": content}]},
        "header": ["Authorization: Bearer s3cret"],
        "extension": [{"url": TIMEOUT_EXT, "valueUnsignedInt": 5}, {"url": MAX_COUNT_EXT, "valuePositiveInt": 10}],
    }
    if heartbeat:
        channel["extension"].append({"url": HEARTBEAT_EXT, "valueUnsignedInt": heartbeat})
    resource: dict[str, Any] = {
        "resourceType": "Subscription",
        "status": status,
        "reason": "tests",
        "criteria": topic,
        "channel": channel,
    }
    if patient:
        kind = "Encounter" if topic == ENCOUNTERS else "Observation"
        resource["_criteria"] = {"extension": [{"url": FILTER_EXT, "valueString": f"{kind}?patient=Patient/{patient}"}]}
    return resource


def observation(patient: str, category: str = "vital-signs", value: float = 92.0) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}]}
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": "2025-01-01T10:00:00Z",
        "valueQuantity": {"value": value, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }


def create(fhir: Fhir, resource: dict[str, Any]) -> dict[str, Any]:
    response = fhir.send("POST", resource["resourceType"], resource)
    assert response.status_code == 201, response.content
    return dict(response.json())


def notifications(server: ScriptedServer) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in server.requests if r.method == "POST"]


def status_of(bundle: dict[str, Any]) -> dict[str, Any]:
    """The status Parameters of a notification, as {name: value}."""
    params = bundle["entry"][0]["resource"]["parameter"]
    out: dict[str, Any] = {}
    for p in params:
        value = next((v for k, v in p.items() if k.startswith("value")), p.get("part"))
        out.setdefault(p["name"], []).append(value)
    return {k: v[0] if len(v) == 1 and k != "notification-event" else v for k, v in out.items()}


def active(fhir: Fhir, receiver: ScriptedServer, **kwargs: Any) -> dict[str, Any]:
    sub = create(fhir, subscription(f"{receiver.url}/hook", **kwargs))
    dispatch_once()
    return sub


class SubscriptionWriteTests:
    def test_created_requested_then_handshake_makes_it_active(self, fhir: Fhir, receiver: ScriptedServer) -> None:
        sub = create(fhir, subscription(f"{receiver.url}/hook", status="active"))
        assert sub["status"] == "requested"  # the server activates, not the client
        assert dispatch_once() == 1
        (handshake,) = notifications(receiver)
        assert handshake["type"] == "history" and handshake["entry"][0]["resource"]["resourceType"] == "Parameters"
        status = status_of(handshake)
        assert status["type"] == "handshake" and status["status"] == "requested"
        assert status["events-since-subscription-start"] == "0" and status["topic"] == VITALS
        assert status["subscription"]["reference"].endswith(f"/Subscription/{sub['id']}")
        assert receiver.requests[0].headers["Authorization"] == "Bearer s3cret"
        assert fhir.get(f"Subscription/{sub['id']}").json()["status"] == "active"

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"criteria": "https://elsewhere.example/Topic/x"}, "criteria"),
            ({"channel": {"type": "websocket"}}, "rest-hook"),
            ({"channel": {"type": "rest-hook", "endpoint": "ftp://x"}}, "endpoint"),
            ({"channel": {"type": "rest-hook", "endpoint": "https://x.example", "payload": "text/xml"}}, "payload"),
            (
                {"_criteria": {"extension": [{"url": FILTER_EXT, "valueString": "Observation?code=1-1"}]}},
                "filter by",
            ),
            (
                {"_criteria": {"extension": [{"url": FILTER_EXT, "valueString": "Encounter?patient=p1"}]}},
                "Filter criteria",
            ),
        ],
    )
    def test_what_the_server_cannot_do_is_refused(self, fhir: Fhir, change: dict[str, Any], message: str) -> None:
        response = fhir.send("POST", "Subscription", {**subscription("https://x.example/hook"), **change})
        assert response.status_code == 400
        assert message in response.json()["issue"][0]["diagnostics"]

    @pytest.mark.parametrize(
        ("url", "value"),
        [(CONTENT_EXT, "everything"), (HEARTBEAT_EXT, 0), (TIMEOUT_EXT, 600), (MAX_COUNT_EXT, "10")],
    )
    def test_bad_channel_extensions_are_refused(self, fhir: Fhir, url: str, value: Any) -> None:
        resource = subscription("https://x.example/hook")
        key = "valueCode" if isinstance(value, str) else "valueUnsignedInt"
        if url == CONTENT_EXT:
            resource["channel"]["_payload"]["extension"][0][key] = value
        else:
            resource["channel"]["extension"] = [{"url": url, key: value}]
        assert fhir.send("POST", "Subscription", resource).status_code == 400

    def test_a_header_that_is_not_name_value_is_refused(self, fhir: Fhir) -> None:
        resource = subscription("https://x.example/hook")
        resource["channel"]["header"] = ["no colon"]
        assert fhir.send("POST", "Subscription", resource).status_code == 400

    def test_a_patient_token_may_not_subscribe(self, fhir_as: Callable[..., Fhir]) -> None:
        patient_fhir = fhir_as("patient/*.cruds", patient_id="p1")
        assert patient_fhir.send("POST", "Subscription", subscription("https://x.example/hook")).status_code == 403


class NotificationTests:
    def test_full_resource_event_for_a_matching_vital_sign(self, fhir: Fhir, receiver: ScriptedServer) -> None:
        sub = active(fhir, receiver)
        obs = create(fhir, observation("p1"))
        create(fhir, observation("p1", category="laboratory"))  # another topic's
        assert dispatch_once() == 1
        event = notifications(receiver)[-1]
        status = status_of(event)
        assert status["type"] == "event-notification" and status["events-since-subscription-start"] == "1"
        (parts,) = status["notification-event"]
        assert {p["name"]: p for p in parts}["event-number"]["valueString"] == "1"
        assert {p["name"]: p for p in parts}["focus"]["valueReference"]["reference"].endswith(
            f"Observation/{obs['id']}"
        )
        entry = event["entry"][1]
        assert entry["resource"]["id"] == obs["id"] and entry["resource"]["meta"]["versionId"] == "1"
        assert entry["request"] == {"method": "POST", "url": "Observation"} and entry["response"]["status"] == "201"
        assert SubscriptionState.objects.get(resource_id=sub["id"]).delivered_through == 1

    def test_id_only_update_and_patient_filter(self, fhir: Fhir, receiver: ScriptedServer) -> None:
        active(fhir, receiver, content="id-only", patient="p1")
        obs = create(fhir, observation("p1"))
        create(fhir, observation("p2"))  # filtered out
        obs["valueQuantity"]["value"] = 95
        assert fhir.send("PUT", f"Observation/{obs['id']}", obs).status_code == 200
        dispatch_once()
        event = notifications(receiver)[-1]
        assert [e.get("resource") for e in event["entry"][1:]] == [None, None]
        assert [e["request"]["method"] for e in event["entry"][1:]] == ["POST", "PUT"]
        assert status_of(event)["events-since-subscription-start"] == "2"

    def test_empty_payload_and_encounter_topic(self, fhir: Fhir, receiver: ScriptedServer) -> None:
        active(fhir, receiver, topic=ENCOUNTERS, content="empty")
        create(fhir, {"resourceType": "Encounter", "status": "in-progress", "class": {"code": "IMP"}})
        dispatch_once()
        event = notifications(receiver)[-1]
        assert len(event["entry"]) == 1
        (parts,) = status_of(event)["notification-event"]
        assert [p["name"] for p in parts] == ["event-number", "timestamp"]

    def test_full_resource_sends_the_version_of_the_event(self, fhir: Fhir, receiver: ScriptedServer) -> None:
        active(fhir, receiver)
        obs = create(fhir, observation("p1", value=90))
        obs["valueQuantity"]["value"] = 91
        fhir.send("PUT", f"Observation/{obs['id']}", obs)
        fhir.send("DELETE", f"Observation/{obs['id']}", "")
        dispatch_once()
        entries = notifications(receiver)[-1]["entry"][1:]
        assert [e["resource"]["valueQuantity"]["value"] for e in entries] == [90, 91]  # each event's own version

    def test_heartbeat_when_nothing_was_sent_for_the_period(self, fhir: Fhir, receiver: ScriptedServer) -> None:
        sub = active(fhir, receiver, heartbeat=60)
        assert dispatch_once() == 0  # the handshake counts as contact
        SubscriptionState.objects.filter(resource_id=sub["id"]).update(
            last_sent_at=timezone.now() - timedelta(seconds=61)
        )
        assert dispatch_once() == 1
        assert status_of(notifications(receiver)[-1])["type"] == "heartbeat"


class FailureTests:
    def test_failed_deliveries_set_error_and_events_are_still_counted(
        self, fhir: Fhir, receiver: ScriptedServer
    ) -> None:
        sub = active(fhir, receiver)
        receiver.routes["POST /hook"] = Answer(500, {})
        create(fhir, observation("p1"))
        for _ in range(subscription_delivery.MAX_FAILURES):
            SubscriptionState.objects.filter(resource_id=sub["id"]).update(next_attempt_at=None)
            dispatch_once()
        stored = fhir.get(f"Subscription/{sub['id']}").json()
        assert stored["status"] == "error" and "HTTP 500" in stored["error"]
        create(fhir, observation("p1"))
        status = status_of(fhir.get(f"Subscription/{sub['id']}/$status").json())
        assert status["type"] == "query-status" and status["status"] == "error"
        assert status["events-since-subscription-start"] == "2" and "error" in status
        assert len(notifications(receiver)) == 1 + subscription_delivery.MAX_FAILURES  # nothing sent once in error

    def test_a_failure_is_retried_after_a_backoff(self, fhir: Fhir, receiver: ScriptedServer) -> None:
        sub = active(fhir, receiver)
        receiver.routes["POST /hook"] = Answer(503, {})
        create(fhir, observation("p1"))
        dispatch_once()
        state = SubscriptionState.objects.get(resource_id=sub["id"])
        assert state.failures == 1 and state.next_attempt_at is not None and state.status == "active"
        receiver.routes["POST /hook"] = Answer(200, {})
        assert dispatch_once() == 0  # not before the backoff
        SubscriptionState.objects.filter(pk=state.pk).update(next_attempt_at=timezone.now())
        assert dispatch_once() == 1
        state.refresh_from_db()
        assert state.failures == 0 and state.delivered_through == 1

    def test_reactivation_handshakes_again_and_reports_the_count(self, fhir: Fhir, receiver: ScriptedServer) -> None:
        sub = active(fhir, receiver)
        SubscriptionState.objects.filter(resource_id=sub["id"]).update(failures=0)
        subscription_delivery.status_set(sub["id"], "error", "down")
        create(fhir, observation("p1"))
        stored = fhir.get(f"Subscription/{sub['id']}").json()
        stored["status"] = "requested"
        assert fhir.send("PUT", f"Subscription/{sub['id']}", stored).status_code == 200
        dispatch_once()
        handshake = status_of(notifications(receiver)[-1])
        assert handshake["type"] == "handshake" and handshake["events-since-subscription-start"] == "1"
        assert dispatch_once() == 0  # the event counted in error is not sent now
        assert fhir.get(f"Subscription/{sub['id']}").json()["status"] == "active"

    def test_a_deleted_subscription_stops(self, fhir: Fhir, receiver: ScriptedServer) -> None:
        sub = active(fhir, receiver)
        assert fhir.send("DELETE", f"Subscription/{sub['id']}", "").status_code == 204
        create(fhir, observation("p1"))
        assert dispatch_once() == 0
        assert SubscriptionState.objects.get(resource_id=sub["id"]).status == "off"
        assert SubscriptionEvent.objects.count() == 0

    def test_handshake_failure_is_an_error(self, fhir: Fhir, receiver: ScriptedServer) -> None:
        sub = create(fhir, subscription(f"{receiver.url}/nowhere"))
        dispatch_once()
        stored = fhir.get(f"Subscription/{sub['id']}").json()
        assert stored["status"] == "error" and "handshake" in stored["error"]


class OperationTests:
    def test_events_returns_the_kept_events_in_the_range(self, fhir: Fhir, receiver: ScriptedServer) -> None:
        sub = active(fhir, receiver)
        ids = [create(fhir, observation("p1", value=v))["id"] for v in (80, 81, 82)]
        bundle = fhir.get(f"Subscription/{sub['id']}/$events?eventsSinceNumber=2&eventsUntilNumber=3").json()
        assert bundle["type"] == "history"
        status = status_of(bundle)
        assert status["type"] == "query-event" and status["events-since-subscription-start"] == "3"
        assert [e["resource"]["id"] for e in bundle["entry"][1:]] == ids[1:]
        id_only = fhir.get(f"Subscription/{sub['id']}/$events?content=id-only").json()
        assert [e.get("resource") for e in id_only["entry"][1:]] == [None, None, None]

    @pytest.mark.parametrize("query", ["eventsSinceNumber=x", "content=all"])
    def test_events_refuses_bad_parameters(self, fhir: Fhir, receiver: ScriptedServer, query: str) -> None:
        sub = active(fhir, receiver)
        assert fhir.get(f"Subscription/{sub['id']}/$events?{query}").status_code == 400

    def test_status_at_type_level_filters_by_id_and_status(self, fhir: Fhir, receiver: ScriptedServer) -> None:
        one = active(fhir, receiver)
        two = create(fhir, subscription(f"{receiver.url}/hook", topic=LABS))
        everything = fhir.get("Subscription/$status").json()
        assert everything["total"] == 2
        only = fhir.get(f"Subscription/$status?id={two['id']}").json()
        assert [status_of(only)["status"]] == ["requested"]
        actives = fhir.get("Subscription/$status?status=active").json()
        assert status_of(actives)["subscription"]["reference"].endswith(one["id"])
        assert fhir.get("Subscription/unknown/$status").status_code == 404

    def test_operations_need_a_token_that_reads_subscriptions(self, fhir_as: Callable[..., Fhir]) -> None:
        assert fhir_as("system/Observation.rs").get("Subscription/$status").status_code == 403
        assert fhir_as(scope=None).get("Subscription/$status").status_code == 401


class DiscoveryTests:
    def test_capability_statement_names_the_topics_and_operations(self, fhir: Fhir) -> None:
        body = fhir.get("metadata").json()
        entry = next(r for r in body["rest"][0]["resource"] if r["type"] == "Subscription")
        assert {e["valueCanonical"] for e in entry["extension"]} == {t.url for t in TOPICS}
        assert [o["name"] for o in entry["operation"]] == ["status", "events"]

    def test_topics_are_published_as_basic(self, fhir: Fhir) -> None:
        assert topics_publish() == len(TOPICS)
        assert topics_publish() == 0
        basic = fhir.get("Basic/topic-vital-signs-observation").json()
        assert basic["code"]["coding"][0]["code"] == "SubscriptionTopic"
        assert basic["extension"][0]["valueUri"] == VITALS


class LastUpdatedSearchTests:
    def test_last_updated_prefixes_with_microsecond_precision(self, fhir: Fhir) -> None:
        first = create(fhir, observation("p1"))
        second = create(fhir, observation("p1"))
        stamp = first["meta"]["lastUpdated"]
        assert fhir.ids(f"Observation?_lastUpdated=gt{stamp}") == [second["id"]]
        assert fhir.ids(f"Observation?_lastUpdated=ge{stamp}") == [first["id"], second["id"]]
        assert fhir.ids(f"Observation?_lastUpdated=le{stamp}") == [first["id"]]
        assert fhir.ids(f"Observation?_lastUpdated=lt{stamp}") == []
        assert fhir.ids(f"Observation?_lastUpdated={stamp}") == [first["id"]]
        assert fhir.get("Observation?_lastUpdated=sa2020").status_code == 400


@pytest.mark.django_db(transaction=True)
def test_the_dispatcher_thread_delivers_after_commit(fhir: Fhir, receiver: ScriptedServer) -> None:
    try:
        create(fhir, subscription(f"{receiver.url}/hook"))  # its commit wakes this process's dispatcher
        deadline = time.monotonic() + 10
        while len(receiver.requests) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status_of(notifications(receiver)[0])["type"] == "handshake"
    finally:
        dispatcher_stop()
