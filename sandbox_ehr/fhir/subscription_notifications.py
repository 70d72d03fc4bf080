"""Notification Bundles of the sandbox's Subscriptions (Subscriptions R5 Backport IG 1.1.0, R4 profiles).

A notification is a `history` Bundle whose first entry is the subscription status, a `Parameters` resource
(profile backport-subscription-status-r4: subscription, topic, status, type, events-since-subscription-start,
notification-event parts with event-number, timestamp and focus). For `full-resource` the focus resources
follow as entries; for `id-only` their entries carry only fullUrl, request and response; `empty` carries none.
`$status` answers a `searchset` Bundle of status Parameters (type `query-status`); `$events` a history Bundle
like a notification (type `query-event`).
https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/notifications.html
https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/OperationDefinition-backport-subscription-status.html
"""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from django.utils import timezone

from sandbox_ehr.fhir.models import FhirResource, FhirResourceHistory, SubscriptionEvent, SubscriptionState

STATUS_PROFILE = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4"
NOTIFICATION_PROFILE = (
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-notification-r4"
)
ERROR_SYSTEM = "http://terminology.hl7.org/CodeSystem/subscription-error"


def _instant(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _event_part(event: SubscriptionEvent, base_url: str, content: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"name": "event-number", "valueString": str(event.number)},
        {"name": "timestamp", "valueInstant": _instant(event.timestamp)},
    ]
    if content != "empty":
        parts.append({"name": "focus", "valueReference": {"reference": _focus_url(event, base_url)}})
    return {"name": "notification-event", "part": parts}


def _focus_url(event: SubscriptionEvent, base_url: str) -> str:
    return f"{base_url}/{event.focus_type}/{event.focus_id}"


def status_parameters(
    state: SubscriptionState,
    kind: str,
    base_url: str,
    events: Sequence[SubscriptionEvent] = (),
    *,
    events_count: int | None = None,
) -> dict[str, Any]:
    """The status resource of a notification or `$status` answer (`kind`: handshake, heartbeat, ...)."""
    count = state.events_since_start if events_count is None else events_count
    parameters: list[dict[str, Any]] = [
        {"name": "subscription", "valueReference": {"reference": f"{base_url}/Subscription/{state.resource_id}"}},
        {"name": "topic", "valueCanonical": state.topic},
        {"name": "status", "valueCode": state.status},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(count)},
        *(_event_part(e, base_url, state.content) for e in events),
    ]
    if state.status == SubscriptionState.Status.ERROR and state.error:
        parameters.append(
            {"name": "error", "valueCodeableConcept": {"coding": [{"system": ERROR_SYSTEM, "code": "no-response"}]}}
        )
    return {
        "resourceType": "Parameters",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [STATUS_PROFILE]},
        "parameter": parameters,
    }


def _version_content(event: SubscriptionEvent) -> dict[str, Any] | None:
    """The focus resource as it was at the event (None when that version was deleted)."""
    row = FhirResource.objects.filter(resource_type=event.focus_type, resource_id=event.focus_id).first()
    if row is not None and row.version_id == event.focus_version and not row.deleted:
        return dict(orjson.loads(row.content))
    old = FhirResourceHistory.objects.filter(
        resource_type=event.focus_type, resource_id=event.focus_id, version_id=event.focus_version
    ).first()
    return dict(orjson.loads(old.content)) if old is not None and old.content else None


def _event_entry(event: SubscriptionEvent, base_url: str, content: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"fullUrl": _focus_url(event, base_url)}
    if content == "full-resource":
        resource = _version_content(event)
        if resource is not None:
            entry["resource"] = resource
    url = event.focus_type if event.created else f"{event.focus_type}/{event.focus_id}"
    entry["request"] = {"method": "POST" if event.created else "PUT", "url": url}
    entry["response"] = {"status": "201" if event.created else "200"}
    return entry


def notification_bundle(
    state: SubscriptionState,
    kind: str,
    base_url: str,
    events: Sequence[SubscriptionEvent] = (),
    *,
    events_count: int | None = None,
) -> dict[str, Any]:
    """A notification Bundle (type history): the status Parameters first, then the events' resources."""
    status = status_parameters(state, kind, base_url, events, events_count=events_count)
    first = {
        "fullUrl": f"urn:uuid:{status['id']}",
        "resource": status,
        "request": {"method": "GET", "url": f"Subscription/{state.resource_id}/$status"},
        "response": {"status": "200"},
    }
    entries = [] if state.content == "empty" else [_event_entry(e, base_url, state.content) for e in events]
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [NOTIFICATION_PROFILE]},
        "type": "history",
        "timestamp": _instant(timezone.now()),
        "entry": [first, *entries],
    }


def status_bundle(states: Sequence[SubscriptionState], base_url: str) -> dict[str, Any]:
    """The `$status` answer: a searchset Bundle of one `query-status` Parameters per subscription."""
    entries = [
        {"fullUrl": f"urn:uuid:{p['id']}", "resource": p, "search": {"mode": "match"}}
        for p in (status_parameters(s, "query-status", base_url) for s in states)
    ]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}
