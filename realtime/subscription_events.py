"""What a subscription brings, as stream messages: Observations -> `VitalEvent`s, Encounters -> refreshes.

An Observation becomes one event when it is usable as a measurement: status final, amended, corrected or
preliminary (R4 observation-status), a LOINC code, a numeric `valueQuantity` with its UCUM code (else its
unit text) and an effective time with a time zone. Anything else is left out, never guessed: missing is not
zero. The event's identity is (source, 'Observation/<id>/_history/<version>'): a redelivered or re-queried
resource goes to the stream again under the same identity, and the consumer, idempotent on (source, source
event id) as the stream's at-least-once delivery requires anyway (`realtime.rescore`), does not rescore it
twice. One mechanism: a mark here, set before the stream took the event, would lose the event when this
process died between the two, and would hold one Redis key per Observation for as long as it is kept.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pydantic

from realtime.events import VitalEvent
from realtime.stream import publish, publish_refresh
from realtime.subscription_notifications import reference_key

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
MEASURED = frozenset({"final", "amended", "corrected", "preliminary"})


def resource_identity(resource: dict[str, Any]) -> str:
    """'Type/id/_history/version' (or '@lastUpdated' without a version): what a redelivery repeats."""
    meta = resource.get("meta") or {}
    key = f"{resource.get('resourceType')}/{resource.get('id')}"
    if meta.get("versionId"):
        return f"{key}/_history/{meta['versionId']}"
    return f"{key}@{meta.get('lastUpdated', '')}"


def _patient(resource: dict[str, Any], element: str) -> str | None:
    key = reference_key((resource.get(element) or {}).get("reference"))
    return key if key and key.startswith("Patient/") else None


def _loinc(resource: dict[str, Any]) -> str | None:
    codings = (resource.get("code") or {}).get("coding") or ()
    return next((str(c["code"]) for c in codings if c.get("system") == LOINC and c.get("code")), None)


def _effective(resource: dict[str, Any]) -> datetime | None:
    text = resource.get("effectiveDateTime") or resource.get("effectiveInstant")
    text = text or (resource.get("effectivePeriod") or {}).get("start")
    try:
        when = datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None
    except ValueError:
        return None
    return when if when is not None and when.tzinfo is not None else None


def observation_event(resource: dict[str, Any], *, registration_id: int, source: str) -> VitalEvent | None:
    """The measurement an Observation states, or None when it is not a usable one."""
    quantity = resource.get("valueQuantity") or {}
    unit = quantity.get("code") if quantity.get("system") == UCUM else quantity.get("unit")
    patient, code, when = _patient(resource, "subject"), _loinc(resource), _effective(resource)
    value = quantity.get("value")
    if resource.get("status") not in MEASURED or patient is None or code is None or when is None or unit is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        return VitalEvent(
            source=source,
            source_event_id=resource_identity(resource),
            registration_id=registration_id,
            patient=str(patient),
            event_time=when,
            code=str(code),
            value=float(value),
            unit=str(unit),
        )
    except pydantic.ValidationError:
        return None


@dataclass
class Published:
    """What one batch sent to the stream: events and refreshes, and the resources left out."""

    events: int = 0
    refreshes: int = 0
    skipped: int = 0


def events_publish(resources: list[dict[str, Any]], *, registration_id: int, source: str) -> Published:
    """Publish the measurements and refreshes among `resources` (redeliveries too: the consumer recognises them)."""
    messages = [_message(r, registration_id=registration_id, source=source) for r in resources]
    events = [m for m in messages if isinstance(m, VitalEvent)]
    refreshes = [m for m in messages if isinstance(m, str)]
    publish(events)
    for patient in refreshes:
        publish_refresh(registration_id, patient)
    return Published(events=len(events), refreshes=len(refreshes), skipped=messages.count(None))


def _message(resource: dict[str, Any], *, registration_id: int, source: str) -> VitalEvent | str | None:
    """A VitalEvent for an Observation, the patient to refresh for an Encounter, None for anything else."""
    if resource.get("resourceType") == "Observation":
        return observation_event(resource, registration_id=registration_id, source=source)
    if resource.get("resourceType") == "Encounter":
        return _patient(resource, "subject")
    return None
