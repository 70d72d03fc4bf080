"""Topic-based Subscriptions of the sandbox FHIR server (HL7 Subscriptions R5 Backport IG 1.1.0, R4 profile).

A client writes a `Subscription` (profile backport-subscription): `criteria` is a topic's canonical URL, the
`backport-filter-criteria` extension on it may narrow it to one patient (`Observation?patient=Patient/1`),
and the channel is a rest-hook with the extensions `backport-heartbeat-period`, `backport-timeout`,
`backport-max-count` and `backport-payload-content` (`empty`, `id-only` or `full-resource`).
https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/StructureDefinition-backport-subscription.html

Every write of the store passes here (`store.resources_store`), inside its transaction:
- a client's Subscription is checked against the profile and stored `requested` (or `off`); the server
  then handshakes and sets it `active` or `error` (`subscription_delivery`);
- a created or updated resource that a topic matches becomes an event of each active (or erroring)
  subscription on it: numbered (`eventsSinceSubscriptionStart`) in the same transaction, delivered after commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from django.db import transaction
from django.utils import timezone

from sandbox_ehr.fhir.errors import InvalidResource
from sandbox_ehr.fhir.models import SubscriptionEvent, SubscriptionState
from sandbox_ehr.fhir.subscription_topics import FILTER_PARAMS, TOPIC_TYPES, Topic, topic_by_url, topic_matches

if TYPE_CHECKING:  # the store calls this module on every write
    from sandbox_ehr.fhir.store import Stored, Write

EXT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
FILTER_EXT = EXT + "backport-filter-criteria"
HEARTBEAT_EXT = EXT + "backport-heartbeat-period"
TIMEOUT_EXT = EXT + "backport-timeout"
MAX_COUNT_EXT = EXT + "backport-max-count"
CONTENT_EXT = EXT + "backport-payload-content"
CONTENTS = ("empty", "id-only", "full-resource")
MAX_TIMEOUT_SECONDS = 60
MAX_EVENTS_PER_NOTIFICATION = 100
State = SubscriptionState.Status
# An erroring subscription still counts its events (IG: "regardless of how many have been successfully
# communicated"); a requested one too: its client may already have taken the handshake while the server has not
# yet stored it active, and the events of that moment are delivered after the handshake.
_RECORDING = (State.REQUESTED, State.ACTIVE, State.ERROR)


@dataclass(frozen=True)
class SubscriptionSpec:
    """What a valid Subscription asks for, read from its elements and backport extensions."""

    topic: Topic
    patient_id: str
    endpoint: str
    headers: tuple[str, ...]
    content: str
    heartbeat_seconds: int | None
    timeout_seconds: int
    max_count: int


def _ext(element: Any, url: str) -> list[Any]:
    """The values of an element's extensions with this url (value[x] of any type)."""
    found = []
    for ext in (element or {}).get("extension") or () if isinstance(element, dict) else ():
        if isinstance(ext, dict) and ext.get("url") == url:
            found += [v for k, v in ext.items() if k.startswith("value")]
    return found


def _bounded(element: Any, url: str, default: int | None, low: int, high: int) -> int | None:
    values = _ext(element, url)
    if not values:
        return default
    if not isinstance(values[0], int) or isinstance(values[0], bool) or not low <= values[0] <= high:
        raise InvalidResource(f"The extension {url.rsplit('/', 1)[-1]} must be a number from {low} to {high}.")
    return int(values[0])


def _patient_filter(topic: Topic, filters: list[Any]) -> str:
    """The patient the filter criteria name ('' for none); 400 for a filter the topic cannot apply."""
    patient = ""
    for text in filters:
        resource_type, _, query = str(text).partition("?")
        pairs = parse_qsl(query, keep_blank_values=True)
        if resource_type != topic.resource_type or not pairs:
            raise InvalidResource(f"Filter criteria must read '{topic.resource_type}?patient=Patient/[id]'.")
        for name, value in pairs:
            if name not in FILTER_PARAMS or not value.removeprefix("Patient/"):
                raise InvalidResource(
                    f"The topic {topic.url} can filter by {' or '.join(FILTER_PARAMS)} only.",
                    extra={"filter": str(text)[:200]},
                )
            patient = value.removeprefix("Patient/")
    return patient


def _channel(resource: dict[str, Any]) -> dict[str, Any]:
    channel = resource.get("channel") or {}
    if channel.get("type") != "rest-hook":
        raise InvalidResource("This server supports the rest-hook channel only.")
    endpoint = str(channel.get("endpoint") or "")
    if urlsplit(endpoint).scheme not in ("http", "https") or not urlsplit(endpoint).netloc:
        raise InvalidResource("A rest-hook channel needs an absolute http(s) endpoint.")
    if channel.get("payload", "application/fhir+json") not in ("application/fhir+json", "application/json"):
        raise InvalidResource("This server sends application/fhir+json payloads only.")
    return dict(channel)


def subscription_spec(resource: dict[str, Any]) -> SubscriptionSpec:
    """Read a Subscription per the backport profile; InvalidResource (400) for anything this server cannot do."""
    topic = topic_by_url(str(resource.get("criteria") or ""))
    if topic is None:
        raise InvalidResource(
            "Subscription.criteria must be the canonical URL of one of this server's topics.",
            extra={"criteria": str(resource.get("criteria"))[:200]},
        )
    channel = _channel(resource)
    content = (_ext(channel.get("_payload"), CONTENT_EXT) or ["id-only"])[0]
    if content not in CONTENTS:
        raise InvalidResource(f"The payload content must be one of {', '.join(CONTENTS)}.")
    headers = channel.get("header") or []
    if any(not isinstance(h, str) or ":" not in h for h in headers):
        raise InvalidResource("Each channel.header must read 'Name: value'.")
    return SubscriptionSpec(
        topic=topic,
        patient_id=_patient_filter(topic, _ext(resource.get("_criteria"), FILTER_EXT)),
        endpoint=str(channel["endpoint"]),
        headers=tuple(headers),
        content=str(content),
        heartbeat_seconds=_bounded(channel, HEARTBEAT_EXT, None, 1, 86_400),
        timeout_seconds=_bounded(channel, TIMEOUT_EXT, 10, 1, MAX_TIMEOUT_SECONDS) or 10,
        max_count=_bounded(channel, MAX_COUNT_EXT, 20, 1, MAX_EVENTS_PER_NOTIFICATION) or 20,
    )


def subscription_writes_prepare(writes: Sequence[Write]) -> None:
    """Check each client-written Subscription; store it `requested` (the server activates it) unless `off`."""
    for write in writes:
        resource = write.resource
        if resource.get("resourceType") != "Subscription" or write.internal:
            continue
        subscription_spec(resource)
        resource["status"] = State.OFF if resource.get("status") == State.OFF else State.REQUESTED
        resource.pop("error", None)


def _state_sync(stored: Stored) -> None:
    """The state row of a (changed) Subscription: its channel re-read; a request is handshaken afresh."""
    resource = stored.resource
    spec = subscription_spec(resource)
    fields: dict[str, Any] = {
        "topic": spec.topic.url,
        "status": resource.get("status", State.REQUESTED),
        "patient_id": spec.patient_id,
        "endpoint": spec.endpoint,
        "headers": list(spec.headers),
        "content": spec.content,
        "heartbeat_seconds": spec.heartbeat_seconds,
        "timeout_seconds": spec.timeout_seconds,
        "max_count": spec.max_count,
        "error": resource.get("error", ""),
    }
    if fields["status"] == State.REQUESTED:
        fields.update(failures=0, next_attempt_at=None)
    SubscriptionState.objects.update_or_create(resource_id=stored.resource_id, defaults=fields)


def _events_record(changed: list[Stored]) -> bool:
    """Number an event for each (subscription, matching resource); True when one needs delivering."""
    candidates = [s for s in changed if s.resource_type in TOPIC_TYPES]
    if not candidates:
        return False
    states = list(SubscriptionState.objects.select_for_update().filter(status__in=_RECORDING).order_by("pk"))
    if not states:
        return False
    resources = [(stored, stored.resource) for stored in candidates]
    events = []
    for state in states:
        topic = topic_by_url(state.topic)
        for stored, resource in resources:
            if topic is None or not topic_matches(topic, resource):
                continue
            if state.patient_id and state.patient_id != stored.patient_id:
                continue
            state.events_since_start += 1
            events.append(_event(state, stored))
    SubscriptionEvent.objects.bulk_create(events)
    touched = {e.subscription_id for e in events}
    for state in states:
        if state.pk in touched:
            state.save(update_fields=["events_since_start"])
    return any(s.status == State.ACTIVE and s.pk in touched for s in states)


def _event(state: SubscriptionState, stored: Stored) -> SubscriptionEvent:
    return SubscriptionEvent(
        subscription=state,
        number=state.events_since_start,
        timestamp=stored.last_updated,
        focus_type=stored.resource_type,
        focus_id=stored.resource_id,
        focus_version=stored.version_id,
        created=stored.created,
    )


def subscriptions_after_store(results: Sequence[Stored]) -> None:
    """Inside the write's transaction: sync written Subscriptions, number topic events; deliver after commit."""
    changed = [s for s in results if s.changed]
    if not changed:
        return
    wake = False
    for stored in changed:
        if stored.resource_type == "Subscription":
            _state_sync(stored)
            wake = True
    with transaction.atomic():  # the counters are locked: a caller in autocommit gets a transaction here
        recorded = _events_record(changed)
    if recorded or wake:
        from sandbox_ehr.fhir.subscription_delivery import dispatcher_wake  # it imports this module

        transaction.on_commit(dispatcher_wake)


def subscription_deleted(resource_id: str) -> None:
    """A deleted Subscription stops: nothing more is counted or sent."""
    SubscriptionState.objects.filter(resource_id=resource_id).update(status=State.OFF, updated_at=timezone.now())
