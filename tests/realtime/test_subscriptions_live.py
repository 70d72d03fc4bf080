"""FHIR Subscriptions end to end: our subscriptions at the sandbox EHR over real HTTP (Backend Services tokens),
its handshakes and notifications delivered to our endpoint by its dispatcher thread, events on the Redis
Stream; redeliveries, gaps, missed heartbeats and errors recovered with `$status`, re-query and re-activation.

Celery runs eagerly: a recovery queued by a notification runs after that notification's commit.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditRecord
from realtime.events import VitalEvent
from realtime.subscription_models import EhrSubscription
from realtime.subscriptions import subscription_recover, subscriptions_check, subscriptions_ensure
from sandbox_ehr.fhir import subscription_delivery
from sandbox_ehr.fhir.models import SubscriptionState
from sandbox_ehr.fhir.services import resource_create, resource_update
from smart_launch.models import EhrRegistration
from tests.realtime.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
Stream = Callable[[], list[Any]]
VITALS = "vital-signs-observation"


def observation(category: str, loinc: str, value: float, unit: str, patient: str = "rt-1") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}]}
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": "2025-03-01T10:00:00Z",
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


def heart_rate(value: float = 118) -> dict[str, Any]:
    return observation("vital-signs", "8867-4", value, "/min")


def ehr_write(resource: dict[str, Any]) -> dict[str, Any]:
    """Write at the EHR through its normal create path (what a nurse's charting does)."""
    return resource_create(resource_type=resource["resourceType"], resource=resource, grant=None).stored.resource


def subscribed(ehr: EhrRegistration) -> dict[str, EhrSubscription]:
    """Our subscriptions, registered and handshaken, by topic name."""
    subs = subscriptions_ensure(ehr)
    wait_for(lambda: EhrSubscription.objects.filter(status="active").count() == len(subs))
    return {s.topic.rsplit("/", 1)[-1]: EhrSubscription.objects.get(pk=s.pk) for s in subs}


def remote(sub: EhrSubscription) -> SubscriptionState:
    return SubscriptionState.objects.get(resource_id=sub.remote_id)


def pause(sub: EhrSubscription) -> None:
    """Hold the sandbox's deliveries of one subscription (its retry time far ahead)."""
    SubscriptionState.objects.filter(resource_id=sub.remote_id).update(
        next_attempt_at=timezone.now() + timedelta(hours=1)
    )


def test_handshake_then_a_full_resource_vital_sign_reaches_the_stream(ehr: EhrRegistration, stream: Stream) -> None:
    subs = subscribed(ehr)
    assert all(s.handshake_at and s.remote_id and len(s.secret_hash) == 64 for s in subs.values())
    assert remote(subs[VITALS]).content == "full-resource"
    obs = ehr_write(heart_rate())
    (event,) = wait_for(stream)
    assert isinstance(event, VitalEvent)
    assert (event.patient, event.code, event.value, event.unit) == ("Patient/rt-1", "8867-4", 118.0, "/min")
    assert event.source == f"ehr-subscription:{ehr.pk}" and event.registration_id == ehr.pk
    assert event.source_event_id == f"Observation/{obs['id']}/_history/1"
    assert event.event_time.isoformat() == "2025-03-01T10:00:00+00:00"
    wait_for(lambda: EhrSubscription.objects.get(pk=subs[VITALS].pk).events_through == 1)
    audit = AuditRecord.objects.filter(action="subscription_notification", outcome="success")
    wait_for(audit.filter(detail__type="event-notification", detail__published=1).exists)
    assert audit.filter(detail__type="handshake").count() == 3


def test_id_only_lab_result_is_read_from_the_ehr(ehr: EhrRegistration, stream: Stream) -> None:
    subs = subscribed(ehr)
    assert remote(subs["laboratory-observation"]).content == "id-only"
    ehr_write(observation("laboratory", "2524-7", 4.1, "mmol/L"))  # lactate
    (event,) = wait_for(stream)
    assert (event.code, event.value, event.unit) == ("2524-7", 4.1, "mmol/L")


def test_an_encounter_change_asks_the_consumer_to_refresh_the_patient(ehr: EhrRegistration, stream: Stream) -> None:
    subscribed(ehr)
    encounter = {"resourceType": "Encounter", "status": "in-progress", "class": {"code": "IMP"}}
    ehr_write({**encounter, "subject": {"reference": "Patient/rt-1"}})
    assert wait_for(stream) == [{"registration_id": ehr.pk, "patient": "Patient/rt-1"}]


def test_a_redelivered_notification_is_recognised(ehr: EhrRegistration, stream: Stream) -> None:
    subs = subscribed(ehr)
    ehr_write(heart_rate())
    wait_for(lambda: remote(subs[VITALS]).delivered_through == 1)
    SubscriptionState.objects.filter(resource_id=subs[VITALS].remote_id).update(delivered_through=0)  # send again
    subscription_delivery.dispatcher_wake()
    first, again = wait_for(lambda: len(stream()) == 2 and stream())
    # The same identity twice: the consumer, idempotent on (source, source event id), rescores it once.
    assert isinstance(first, VitalEvent) and first == again
    assert first.source_event_id.startswith("Observation/") and "/_history/" in first.source_event_id
    wait_for(lambda: AuditRecord.objects.filter(detail__events=[1], detail__published=1).count() == 2)


def test_a_gap_is_detected_and_recovered_by_status_and_requery(ehr: EhrRegistration, stream: Stream) -> None:
    subs = subscribed(ehr)
    pause(subs[VITALS])
    lost = ehr_write(heart_rate(120))
    # The EHR "loses" event 1, then delivers event 2: our side sees the gap and recovers event 1's data.
    SubscriptionState.objects.filter(resource_id=subs[VITALS].remote_id).update(
        delivered_through=1, next_attempt_at=None
    )
    ehr_write(heart_rate(125))
    sub = wait_for(lambda: EhrSubscription.objects.filter(pk=subs[VITALS].pk, recoveries=1).first())
    assert sub.gaps_detected >= 1 and sub.events_through == 2
    events = wait_for(lambda: len(stream()) >= 2 and stream())
    assert {e.source_event_id for e in events} >= {f"Observation/{lost['id']}/_history/1"}
    # The re-query may bring event 2's Observation again, under the same identity (the consumer takes it once).
    assert {e.value for e in events} == {120.0, 125.0}
    assert len({(e.source, e.source_event_id) for e in events}) == 2


def test_a_missed_heartbeat_is_recovered_by_status(ehr: EhrRegistration, stream: Stream) -> None:
    subs = subscribed(ehr)
    pause(subs[VITALS])  # the EHR stops sending (a network problem) while charting goes on
    ehr_write(heart_rate(131))
    assert subscriptions_check() == []  # heartbeats are not late yet
    late = timezone.now() - timedelta(seconds=subs[VITALS].heartbeat_seconds * 3)
    EhrSubscription.objects.filter(pk=subs[VITALS].pk).update(last_contact_at=late)
    assert subscriptions_check() == [subs[VITALS].pk]
    (event,) = stream()
    assert event.value == 131.0
    sub = EhrSubscription.objects.get(pk=subs[VITALS].pk)
    assert (sub.missed_heartbeats, sub.recoveries, sub.events_through) == (1, 1, 1)
    assert sub.last_contact_at is not None and sub.last_contact_at > late


def test_a_subscription_in_error_is_reactivated(
    ehr: EhrRegistration, stream: Stream, monkeypatch: pytest.MonkeyPatch
) -> None:
    subs = subscribed(ehr)
    monkeypatch.setattr(subscription_delivery, "MAX_FAILURES", 1)
    EhrSubscription.objects.filter(pk=subs[VITALS].pk).update(secret_hash="0" * 64)  # we refuse what it sends
    written = ehr_write(heart_rate(140))
    wait_for(lambda: remote(subs[VITALS]).status == "error")
    assert AuditRecord.objects.filter(outcome="denied", detail__code="notification_unauthenticated").exists()
    recovered = subscription_recover(subs[VITALS].pk, "verify")
    assert recovered.reactivations == 1 and recovered.remote_id == subs[VITALS].remote_id
    wait_for(lambda: remote(subs[VITALS]).status == "active")
    wait_for(lambda: EhrSubscription.objects.get(pk=subs[VITALS].pk).status == "active")
    # The refused event, recovered by the re-query (and maybe delivered again: one identity, rescored once).
    assert {(e.source_event_id, e.value) for e in stream()} == {(f"Observation/{written['id']}/_history/1", 140.0)}
    assert AuditRecord.objects.filter(action="subscription_change", detail__what="reactivated").exists()
    ehr_write(heart_rate(141))  # and notifications flow again, with the new secret
    wait_for(lambda: len(stream()) == 2)


def test_an_updated_observation_is_a_new_event(ehr: EhrRegistration, stream: Stream) -> None:
    subscribed(ehr)
    obs = ehr_write(heart_rate(100))
    wait_for(lambda: len(stream()) == 1)
    resource_update(
        resource_type="Observation",
        resource_id=obs["id"],
        resource={**obs, "valueQuantity": {**obs["valueQuantity"], "value": 101}},
        grant=None,
    )
    wait_for(lambda: len(stream()) == 2)
    assert stream()[1].source_event_id.endswith("/_history/2")


def test_the_command_registers_and_verifies(ehr: EhrRegistration, stream: Stream, capsys: Any) -> None:
    call_command("subscriptions", "register")
    wait_for(lambda: EhrSubscription.objects.filter(status="active").count() == 3)
    call_command("subscriptions", "verify", "--iss", ehr.iss)
    verified = capsys.readouterr().out.splitlines()[-3:]
    assert all(": active, id " in line for line in verified)
    assert EhrSubscription.objects.filter(recoveries=1).count() == 3
