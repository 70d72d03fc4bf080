"""One notification in from an EHR: verify it, publish what it brings, notice gaps (Subscriptions R5 Backport IG).

Checks, in order (each failure is a 4xx of `realtime.subscription_errors`, audited, nothing published):
the endpoint's subscription exists (404); the channel secret matches its hash (401); the body is a
notification Bundle (400); it names the subscription's id at the EHR and its topic (403). A handshake
before our write's answer binds the id (the secret already proved the sender).

Then: `event-notification` resources (carried, or read from the EHR for `id-only`) go to the stream
(`subscription_events.events_publish`); every notification's `events-since-subscription-start` and event
numbers are compared with the events processed so far: a gap, on any notification type, queues a
recovery (`subscription_recover` after commit).
"""

from typing import Any

import orjson
from django.db import transaction
from django.utils import timezone

from audit.models import AuditRecord
from audit.services import audit_records_create
from config.errors import ApplicationError
from fhirapp.errors import FhirRequestRejected
from realtime.subscription_errors import (
    NotificationInvalid,
    NotificationMismatch,
    NotificationUnauthenticated,
    SubscriptionNotFound,
)
from realtime.subscription_events import Published, events_publish
from realtime.subscription_models import EhrSubscription
from realtime.subscription_notifications import Notification, notification_read
from realtime.subscriptions import ehr_client, secret_matches

Status = EhrSubscription.Status


def _subscription(subscription_id: int) -> EhrSubscription:
    found = EhrSubscription.objects.select_related("registration").filter(pk=subscription_id).first()
    if found is None or found.status == Status.OFF:
        raise SubscriptionNotFound()
    return found


def _authenticate(subscription: EhrSubscription, authorization: str) -> None:
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret_matches(subscription, secret.strip()):
        raise NotificationUnauthenticated()


def _parse(body: bytes) -> Notification:
    try:
        return notification_read(orjson.loads(body))
    except orjson.JSONDecodeError as exc:
        raise NotificationInvalid("The body is not JSON.") from exc


def _match(subscription: EhrSubscription, note: Notification) -> None:
    bound = subscription.remote_id or (note.subscription_id if note.kind == "handshake" else "")
    if note.subscription_id != bound:
        raise NotificationMismatch(
            "The notification names another subscription.", extra={"subscription": note.subscription_id}
        )
    if note.topic and note.topic.split("|", 1)[0] != subscription.topic:
        raise NotificationMismatch("The notification names another topic.", extra={"topic": note.topic[:200]})
    if note.kind not in ("handshake", "heartbeat", "event-notification"):
        raise NotificationInvalid(f"A '{note.kind}' bundle is an answer to a query, not a notification.")


def _focus_resources(subscription: EhrSubscription, note: Notification) -> list[dict[str, Any]]:
    """The events' focus resources: carried in the Bundle, else read from the EHR (id-only); deleted ones skipped."""
    resources, client = [], None
    for key in dict.fromkeys(e.focus for e in note.events if e.focus):
        if key in note.resources:
            resources.append(note.resources[key])
            continue
        client = client or ehr_client(subscription.registration)
        try:
            resources.append(client.read(*key.split("/", 1)))
        except FhirRequestRejected as exc:
            if exc.extra.get("upstream_status") not in (404, 410):
                raise
    return resources


def _advance(subscription: EhrSubscription, note: Notification) -> bool:
    """Move `events_through` over the contiguous event numbers; True when some before them are missing."""
    gap = False
    for event in sorted(note.events, key=lambda e: e.number):
        if event.number <= subscription.events_through:
            continue  # redelivered or recovered already
        if event.number > subscription.events_through + 1:
            gap = True
            break
        subscription.events_through = event.number
        subscription.events_through_at = event.timestamp or subscription.events_through_at
    counted = note.events_since_start
    return gap or (counted is not None and counted > subscription.events_through)


def _record(subscription_id: int, note: Notification) -> bool:
    """Save what the notification tells (under the row lock); True when a recovery is needed."""
    with transaction.atomic():
        subscription = EhrSubscription.objects.select_for_update().get(pk=subscription_id)
        now = timezone.now()
        subscription.last_contact_at = now
        if note.kind == "handshake":
            subscription.remote_id = subscription.remote_id or note.subscription_id
            subscription.status, subscription.handshake_at = Status.ACTIVE, now
        gap = _advance(subscription, note)
        subscription.gaps_detected += int(gap)
        subscription.save()
        if gap:
            transaction.on_commit(lambda: _recover_later(subscription_id))
    return gap


def _recover_later(subscription_id: int) -> None:
    from realtime.subscription_tasks import subscription_recover_task  # the tasks module imports the services

    subscription_recover_task.delay(subscription_id, "gap in events")


def _audit(
    subscription_id: int, note: Notification | None, outcome: str, detail: dict[str, Any], patients: list[str]
) -> None:
    base = {
        "action": AuditRecord.Action.SUBSCRIPTION_NOTIFICATION,
        "outcome": outcome,
        "actor": f"ehr-subscription:{subscription_id}",
        "detail": {"subscription": subscription_id, "type": note.kind if note else "", **detail},
    }
    audit_records_create([{**base, "patient_id": p} for p in patients] or [base])


def notification_receive(*, subscription_id: int, authorization: str, body: bytes) -> dict[str, Any]:
    """Take one notification; what was published. Raises (and audits) the 4xx of a notification we refuse."""
    note = None
    try:
        subscription = _subscription(subscription_id)
        _authenticate(subscription, authorization)
        note = _parse(body)
        _match(subscription, note)
        found = _focus_resources(subscription, note) if note.kind == "event-notification" else []
        published = events_publish(found, registration_id=subscription.registration_id, source=subscription.source)
        gap = _record(subscription.pk, note)
    except ApplicationError as exc:
        outcome = AuditRecord.Outcome.DENIED if exc.status_code in (401, 403) else AuditRecord.Outcome.FAILURE
        _audit(subscription_id, note, outcome, {"code": exc.code, "status": exc.status_code}, [])
        raise
    summary = {**_summary(published), "gap": gap, "events": [e.number for e in note.events]}
    _audit(subscription_id, note, AuditRecord.Outcome.SUCCESS, summary, _patients(found))
    return summary


def _summary(published: Published) -> dict[str, int]:
    return {
        "published": published.events,
        "refreshes": published.refreshes,
        "skipped": published.skipped,
    }


def _patients(resources: list[dict[str, Any]]) -> list[str]:
    refs = [str((r.get("subject") or {}).get("reference") or "") for r in resources]
    return list(dict.fromkeys(ref for ref in refs if ref.startswith("Patient/")))
