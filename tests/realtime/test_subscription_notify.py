"""The notification endpoint refuses what it must, in the one error shape, and audits it; the pure parts
(Bundle reading, Observation -> VitalEvent) on hand-written input."""

from typing import Any

import orjson
import pytest
from django.test import Client

from audit.models import AuditRecord
from realtime.subscription_events import observation_event, resource_identity
from realtime.subscription_models import EhrSubscription
from realtime.subscription_notifications import notification_read, reference_key, status_bundle_read
from realtime.subscriptions import secret_hash, subscription_resource
from smart_launch.models import EhrRegistration

pytestmark = pytest.mark.django_db
TOPIC = "https://stratify.example.org/fhir/SubscriptionTopic/vital-signs-observation"
SECRET = "known-secret"


@pytest.fixture
def subscription() -> EhrSubscription:
    registration = EhrRegistration.objects.create(name="EHR", iss="https://ehr.example.org/fhir", client_id="c")
    return EhrSubscription.objects.create(
        registration=registration,
        topic=TOPIC,
        resource_type="Observation",
        remote_id="sub-1",
        secret_hash=secret_hash(SECRET),
        status="active",
    )


def bundle(kind: str = "heartbeat", *, sub: str = "sub-1", topic: str = TOPIC, count: str = "0") -> dict[str, Any]:
    status = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "subscription",
                "valueReference": {"reference": f"https://ehr.example.org/fhir/Subscription/{sub}"},
            },
            {"name": "topic", "valueCanonical": topic},
            {"name": "status", "valueCode": "active"},
            {"name": "type", "valueCode": kind},
            {"name": "events-since-subscription-start", "valueString": count},
        ],
    }
    return {"resourceType": "Bundle", "type": "history", "entry": [{"fullUrl": "urn:uuid:1", "resource": status}]}


def post(client: Client, pk: int, body: Any, secret: str = SECRET) -> Any:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.post(
        f"/api/subscriptions/{pk}/notify",
        data=data,
        content_type="application/fhir+json",
        headers={"Authorization": f"Bearer {secret}"},
    )


def test_a_heartbeat_with_the_secret_is_taken(client: Client, subscription: EhrSubscription) -> None:
    response = post(client, subscription.pk, bundle())
    assert response.status_code == 200 and response.json()["gap"] is False
    subscription.refresh_from_db()
    assert subscription.last_contact_at is not None


@pytest.mark.parametrize(
    ("body", "secret", "status", "code"),
    [
        (bundle(), "wrong", 401, "notification_unauthenticated"),
        (b"{not json", SECRET, 400, "notification_invalid"),
        ({"resourceType": "Bundle", "type": "searchset"}, SECRET, 400, "notification_invalid"),
        ({"resourceType": "Bundle", "type": "history", "entry": []}, SECRET, 400, "notification_invalid"),
        (bundle(count="two"), SECRET, 400, "notification_invalid"),
        (bundle(kind="query-status"), SECRET, 400, "notification_invalid"),
        (bundle(kind="gossip"), SECRET, 400, "notification_invalid"),
        (bundle(sub="sub-2"), SECRET, 403, "notification_mismatch"),
        (bundle(topic="https://elsewhere.example/T"), SECRET, 403, "notification_mismatch"),
    ],
)
def test_bad_notifications_are_refused_and_audited(
    client: Client, subscription: EhrSubscription, body: Any, secret: str, status: int, code: str
) -> None:
    response = post(client, subscription.pk, body, secret)
    assert response.status_code == status
    assert response.json()["code"] == code and set(response.json()) == {"message", "code", "extra"}
    record = AuditRecord.objects.get(action="subscription_notification")
    assert record.outcome == ("denied" if status in (401, 403) else "failure")
    assert record.detail["code"] == code


def test_an_unknown_endpoint_is_404_and_only_post_is_allowed(client: Client, subscription: EhrSubscription) -> None:
    assert post(client, subscription.pk + 1, bundle()).status_code == 404
    response = client.get(f"/api/subscriptions/{subscription.pk}/notify")
    assert response.status_code == 405 and response["Allow"] == "POST"


def test_a_status_in_status_bundle_is_read() -> None:
    status = bundle(kind="query-status", count="7")["entry"][0]["resource"]
    answer = status_bundle_read({"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": status}]})
    assert (answer.subscription_id, answer.kind, answer.events_since_start) == ("sub-1", "query-status", 7)


def test_notification_events_and_resources_are_read() -> None:
    body = bundle(kind="event-notification", count="3")
    body["entry"][0]["resource"]["parameter"].append(
        {
            "name": "notification-event",
            "part": [
                {"name": "event-number", "valueString": "3"},
                {"name": "timestamp", "valueInstant": "2025-01-01T10:00:00Z"},
                {"name": "focus", "valueReference": {"reference": "https://ehr.example.org/fhir/Observation/o1"}},
            ],
        }
    )
    body["entry"].append(
        {
            "fullUrl": "https://ehr.example.org/fhir/Observation/o1",
            "resource": {"resourceType": "Observation", "id": "o1"},
        }
    )
    body["entry"].append({"fullUrl": "https://ehr.example.org/fhir/Observation/o2"})  # id-only: no resource
    note = notification_read(body)
    (event,) = note.events
    assert event.timestamp is not None and event.timestamp.isoformat() == "2025-01-01T10:00:00+00:00"
    assert (event.number, event.focus) == (3, "Observation/o1")
    assert list(note.resources) == ["Observation/o1"]
    assert reference_key("Observation/o1/_history/2") == "Observation/o1" and reference_key(None) is None


def _obs(**change: Any) -> dict[str, Any]:
    base = {
        "resourceType": "Observation",
        "id": "o1",
        "meta": {"versionId": "2"},
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2025-01-01T10:00:00+01:00",
        "valueQuantity": {"value": 38.4, "unit": "Cel", "system": "http://unitsofmeasure.org", "code": "Cel"},
    }
    return {**base, **change}


def test_an_observation_becomes_a_vital_event() -> None:
    event = observation_event(_obs(), registration_id=1, source="ehr-subscription:1")
    assert event is not None and (event.code, event.value, event.unit) == ("8310-5", 38.4, "Cel")
    assert event.event_time.isoformat() == "2025-01-01T10:00:00+01:00"
    assert event.source_event_id == "Observation/o1/_history/2"
    assert (
        resource_identity({"resourceType": "Observation", "id": "x", "meta": {"lastUpdated": "T"}}) == "Observation/x@T"
    )


@pytest.mark.parametrize(
    "change",
    [
        {"status": "entered-in-error"},
        {"code": {"coding": [{"system": "http://snomed.info/sct", "code": "1"}]}},
        {"effectiveDateTime": "2025-01-01"},
        {"effectiveDateTime": "yesterday"},
        {"valueQuantity": {"value": "high", "unit": "Cel"}},
        {"valueQuantity": None, "valueString": "high"},
        {"subject": {"reference": "Group/g1"}},
        {"code": {"coding": [{"system": "http://loinc.org", "code": "not-loinc"}]}},
    ],
)
def test_what_is_not_a_usable_measurement_is_left_out(change: dict[str, Any]) -> None:
    assert observation_event(_obs(**change), registration_id=1, source="s") is None


def test_the_subscription_we_write_follows_the_backport_profile(subscription: EhrSubscription) -> None:
    subscription.patient_filter = "p1"
    resource = subscription_resource(subscription, "s3cret")
    assert resource["id"] == "sub-1" and resource["criteria"] == TOPIC
    assert resource["channel"]["header"] == ["Authorization: Bearer s3cret"]
    assert resource["_criteria"]["extension"][0]["valueString"] == "Observation?patient=Patient/p1"
    assert resource["channel"]["endpoint"].endswith(f"/api/subscriptions/{subscription.pk}/notify")
