"""Reading notification Bundles of the Subscriptions R5 Backport IG for R4 (pure: no I/O).

A notification is a `history` Bundle whose first entry is a `Parameters` resource (profile
backport-subscription-status-r4) with `subscription`, `topic`, `status`, `type`,
`events-since-subscription-start` (a string: R4 has no integer64) and one `notification-event` per event
(`event-number`, `timestamp`, `focus`); `full-resource` notifications carry the focus resources as entries.
A `$status` answer is a `searchset` Bundle of such Parameters.
https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/StructureDefinition-backport-subscription-status-r4.html
"""

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from realtime.subscription_errors import NotificationInvalid

KINDS = ("handshake", "heartbeat", "event-notification", "query-status", "query-event")
_REF_RE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


def reference_key(reference: Any) -> str | None:
    """'Type/id' of a relative, absolute or versioned literal reference; None for anything else."""
    match = _REF_RE.search(reference) if isinstance(reference, str) else None
    return f"{match.group(1)}/{match.group(2)}" if match else None


@dataclass(frozen=True)
class NotificationEvent:
    """One `notification-event`: its number, the EHR's time of it, and the focus ('Type/id'), if any."""

    number: int
    timestamp: datetime | None
    focus: str | None


@dataclass(frozen=True)
class Notification:
    """What a notification (or a `$status` entry) says, and the resources it carries by 'Type/id'."""

    subscription_id: str
    topic: str
    status: str
    kind: str
    events_since_start: int | None
    events: tuple[NotificationEvent, ...] = ()
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)


def _value(parameter: dict[str, Any]) -> Any:
    return next((v for k, v in parameter.items() if k.startswith("value")), None)


def _count(text: Any, what: str) -> int:
    if not isinstance(text, str) or not text.isdigit():
        raise NotificationInvalid(f"{what} must be a number written as a string (R4 profile).")
    return int(text)


def _instant(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if isinstance(text, str) else None
    except ValueError:
        return None


def _event(parameter: dict[str, Any]) -> NotificationEvent:
    parts = {p.get("name"): _value(p) for p in parameter.get("part") or () if isinstance(p, dict)}
    focus = parts.get("focus")
    return NotificationEvent(
        number=_count(parts.get("event-number"), "event-number"),
        timestamp=_instant(parts.get("timestamp")),
        focus=reference_key(focus.get("reference")) if isinstance(focus, dict) else None,
    )


def status_read(parameters: Any) -> Notification:
    """The subscription status Parameters; NotificationInvalid when it lacks what the profile requires."""
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise NotificationInvalid("The first entry must be the subscription status (a Parameters resource).")
    items = [p for p in parameters.get("parameter") or () if isinstance(p, dict)]
    named = {p.get("name"): _value(p) for p in items}
    subscription = reference_key((named.get("subscription") or {}).get("reference"))
    if not subscription or not subscription.startswith("Subscription/"):
        raise NotificationInvalid("The status names no Subscription.")
    if named.get("type") not in KINDS or not isinstance(named.get("status"), str):
        raise NotificationInvalid("The status needs a notification type and a subscription status.")
    since = named.get("events-since-subscription-start")
    return Notification(
        subscription_id=subscription.split("/", 1)[1],
        topic=str(named.get("topic") or ""),
        status=str(named["status"]),
        kind=str(named["type"]),
        events_since_start=None if since is None else _count(since, "events-since-subscription-start"),
        events=tuple(_event(p) for p in items if p.get("name") == "notification-event"),
    )


def notification_read(body: Any) -> Notification:
    """A notification Bundle: its status and the resources it carries; NotificationInvalid (400) otherwise."""
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle" or body.get("type") != "history":
        raise NotificationInvalid("A notification must be a Bundle of type history.")
    entries = [e for e in body.get("entry") or () if isinstance(e, dict)]
    if not entries:
        raise NotificationInvalid("A notification Bundle starts with the subscription status.")
    status = status_read(entries[0].get("resource"))
    resources = {}
    for entry in entries[1:]:
        resource = entry.get("resource")
        key = reference_key(entry.get("fullUrl")) if isinstance(resource, dict) else None
        if isinstance(resource, dict) and key and key.split("/", 1)[0] == resource.get("resourceType"):
            resources[key] = resource
    return replace(status, resources=resources)


def status_bundle_read(bundle: Any) -> Notification:
    """The first status of a `$status` answer (a searchset Bundle of status Parameters)."""
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    if not entries or not isinstance(entries[0], dict):
        raise NotificationInvalid("The $status answer holds no subscription status.")
    return status_read(entries[0].get("resource"))
