"""Device vitals in: validate a batch whole, store it once per (source, source event id), then stream it.

A batch is all-or-nothing: every event is checked first, and any invalid event refuses the whole batch with one
error per bad event naming its index and field (400, `EventsInvalid`), nothing stored. A valid batch is stored
in one transaction with its audit records (one `vitals_ingest` record per patient of the batch); an event
already stored (a resend) is counted as a duplicate and stored no second time (the database's unique
constraint decides, so two resends racing each other cannot both store it). Late and out-of-order events are
accepted: each keeps its own event time, which is what the models read, and new events go to the stream in
event-time order after the commit. A stored event that could not be streamed then (Redis unreachable) is
streamed by the consumers' outbox relay (`events_relay`).
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pydantic
import redis
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit.services import audit_records_create
from realtime.errors import EventsInvalid
from realtime.events import VitalEvent
from realtime.models import DeviceSource, DeviceVital
from realtime.observations import unit_problem
from realtime.stream import publish

logger = logging.getLogger(__name__)


def events_ingest(*, source: DeviceSource, body: Any) -> dict[str, Any]:
    """Validate, store and stream a batch `{"events": [...]}` from `source`; the counts of what happened."""
    events = events_validate(source, body)
    unique = _first_of_each(events)
    batch = uuid.uuid4()
    # The rows this request stored: found by the unique (source, source event id) index, never by scanning the
    # table (it holds every event of the retention period) for the batch.
    mine = DeviceVital.objects.filter(
        source=source, source_event_id__in=[e.source_event_id for e in unique], batch=batch
    )
    with transaction.atomic():
        DeviceVital.objects.bulk_create([_row(source, e, batch) for e in unique], ignore_conflicts=True)
        stored = set(mine.values_list("source_event_id", flat=True))
        audit_records_create(_audits(source, batch, unique, stored))
    new = sorted((e for e in unique if e.source_event_id in stored), key=lambda e: e.event_time)
    if new:
        transaction.on_commit(lambda: events_stream(new, mine))
    return {"batch": str(batch), "received": len(events), "stored": len(new), "duplicates": len(events) - len(new)}


def events_validate(source: DeviceSource, body: Any) -> list[VitalEvent]:
    """The batch's events, or EventsInvalid listing one error per bad event (index, field, message)."""
    items = _items(body)
    events: list[VitalEvent] = []
    errors: list[dict[str, Any]] = []
    seen: dict[str, VitalEvent] = {}
    for index, item in enumerate(items):
        event, error = _one(source, index, item, seen)
        if error is not None:
            errors.append(error)
        elif event is not None:
            events.append(event)
    if errors:
        raise EventsInvalid(errors)
    return events


def _items(body: Any) -> list[Any]:
    items = body.get("events") if isinstance(body, dict) else None
    limit = settings.REALTIME_MAX_EVENTS_PER_REQUEST
    if not isinstance(items, list) or not 1 <= len(items) <= limit:
        message = f"The body must be an object whose `events` is a list of 1 to {limit} events."
        raise EventsInvalid([{"index": None, "field": "events", "message": message}])
    return items


def _one(
    source: DeviceSource, index: int, item: Any, seen: dict[str, VitalEvent]
) -> tuple[VitalEvent | None, dict[str, Any] | None]:
    """One event checked: (event, None) or (None, its error)."""
    try:
        event = VitalEvent.model_validate(item)
    except pydantic.ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        field = ".".join(str(p) for p in first["loc"]) or "event"
        return None, {"index": index, "field": field, "message": first["msg"], "errors": exc.error_count()}
    problem = _problem(source, event, seen.get(event.source_event_id))
    if problem is not None:
        return None, {"index": index, "field": problem[0], "message": problem[1], "errors": 1}
    seen[event.source_event_id] = event
    return event, None


def _problem(source: DeviceSource, event: VitalEvent, earlier: VitalEvent | None) -> tuple[str, str] | None:
    """(field, why) of the first rule the event breaks beyond its envelope's schema, else None."""
    if event.source != source.name:
        return "source", f"must be {source.name!r}, the source this request authenticated as"
    if event.registration_id != source.registration_id:
        return "registration_id", f"must be {source.registration_id}, the EHR registration of source {source.name!r}"
    if not math.isfinite(event.value):
        return "value", "must be a finite number"
    if event.event_time > timezone.now() + timedelta(seconds=settings.REALTIME_FUTURE_SKEW_SECONDS):
        return "event_time", "is in the future"
    if earlier is not None and earlier != event:
        return "source_event_id", "is repeated in this batch with different content"
    problem = unit_problem(event.code, event.value, event.unit)
    return ("unit", problem) if problem else None


def _first_of_each(events: Sequence[VitalEvent]) -> list[VitalEvent]:
    """The batch without repeats of one source event id (identical repeats: the checks refused the others)."""
    return list({e.source_event_id: e for e in reversed(events)}.values())[::-1]


def _row(source: DeviceSource, event: VitalEvent, batch: uuid.UUID) -> DeviceVital:
    return DeviceVital(
        source=source,
        source_event_id=event.source_event_id,
        device_id=event.device_id or "",
        registration_id=event.registration_id,
        patient=event.patient,
        event_time=event.event_time,
        code=event.code,
        value=event.value,
        unit=event.unit,
        batch=batch,
    )


def _audits(
    source: DeviceSource, batch: uuid.UUID, events: Sequence[VitalEvent], stored: set[str]
) -> list[dict[str, Any]]:
    """One `vitals_ingest` record per patient of the batch: how many of their events were new or resent."""
    per_patient: dict[str, list[int]] = {}
    for event in events:
        counts = per_patient.setdefault(event.patient, [0, 0])
        counts[0 if event.source_event_id in stored else 1] += 1
    return [
        {
            "action": "vitals_ingest",
            "actor": f"device:{source.name}",
            "patient_id": patient.removeprefix("Patient/"),
            "detail": {"batch": str(batch), "registration": source.registration_id, "stored": new, "duplicates": dup},
        }
        for patient, (new, dup) in per_patient.items()
    ]


def events_stream(events: Sequence[VitalEvent], rows: QuerySet[DeviceVital]) -> bool:
    """Publish stored events, then mark their rows streamed; on a Redis failure the relay streams them later."""
    try:
        publish(events)
    except redis.RedisError:
        logger.warning("device events stored but not streamed yet; the relay will stream them", exc_info=True)
        return False
    rows.update(streamed=True)
    return True


def events_relay(*, limit: int = 1000) -> int:
    """Stream stored events still unstreamed REALTIME_RELAY_AFTER_SECONDS after receipt (outbox); how many."""
    due = timezone.now() - timedelta(seconds=settings.REALTIME_RELAY_AFTER_SECONDS)
    rows = list(
        DeviceVital.objects.filter(streamed=False, received_at__lt=due)
        .select_related("source")
        .order_by("event_time")[:limit]
    )
    if not rows:
        return 0
    streamed = events_stream([r.as_event() for r in rows], DeviceVital.objects.filter(pk__in=[r.pk for r in rows]))
    return len(rows) if streamed else 0
