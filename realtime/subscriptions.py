"""Our FHIR Subscriptions at each EHR: register, verify, recover (HL7 Subscriptions R5 Backport IG for R4).

Per EHR registration we hold one Subscription per topic of REALTIME_SUBSCRIPTION_TOPICS, written with a
SMART Backend Services token through `fhirapp.client`. Its rest-hook channel carries a fresh secret in an
`Authorization: Bearer` header; we keep only its SHA-256, and every notification must present it
(`realtime.subscription_receive`). Each (re)registration rotates the secret.

Recovery (https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/errors.html): after a gap in the event
numbers, a missed heartbeat or an error, ask the EHR `$status`; re-activate the subscription when the EHR
has it in `error` or `off` (or lost it); when the EHR counted more events than we processed, search what
changed since the last event we had (`_lastUpdated=ge`, a margin earlier) and publish it, redeliveries
being recognised by their identity.
"""

import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditRecord
from audit.services import audit_record_create
from fhirapp.client import FhirClient
from fhirapp.errors import FhirRequestRejected
from realtime.subscription_events import Published, events_publish
from realtime.subscription_models import EhrSubscription
from realtime.subscription_notifications import status_bundle_read
from smart_launch.backend import backend_access_token
from smart_launch.models import EhrRegistration

logger = logging.getLogger("stratify.realtime")
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
SCOPE = "system/Subscription.cru system/Observation.rs system/Encounter.rs"
Status = EhrSubscription.Status


def secret_hash(secret: str) -> str:
    """What we store of a channel secret (SHA-256: the secret is 256 random bits, no stretching needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(subscription: EhrSubscription, presented: str) -> bool:
    """Whether a presented secret is the subscription's (constant-time)."""
    return bool(subscription.secret_hash) and hmac.compare_digest(secret_hash(presented), subscription.secret_hash)


def ehr_client(registration: EhrRegistration) -> FhirClient:
    """The EHR's FHIR server with a Backend Services token for subscriptions and the resources they bring."""
    return FhirClient(registration.iss, token=backend_access_token(iss=registration.iss, scope=SCOPE))


def notification_url(subscription: EhrSubscription) -> str:
    """Our rest-hook endpoint for one subscription."""
    path = reverse("realtime_subscriptions:notify", kwargs={"pk": subscription.pk})
    return f"{str(settings.PUBLIC_BASE_URL).rstrip('/')}{path}"


def subscription_resource(subscription: EhrSubscription, secret: str) -> dict[str, Any]:
    """The R4 Subscription (profile backport-subscription) we write at the EHR, `requested`."""
    resource: dict[str, Any] = {
        "resourceType": "Subscription",
        "meta": {"profile": [f"{BACKPORT}backport-subscription"]},
        "status": "requested",
        "reason": "Stratify: rescoring on new data",
        "criteria": subscription.topic,
        "channel": {
            "extension": [
                {"url": f"{BACKPORT}backport-heartbeat-period", "valueUnsignedInt": subscription.heartbeat_seconds},
                {"url": f"{BACKPORT}backport-timeout", "valueUnsignedInt": 10},
                {"url": f"{BACKPORT}backport-max-count", "valuePositiveInt": 20},
            ],
            "type": "rest-hook",
            "endpoint": notification_url(subscription),
            "payload": "application/fhir+json",
            "_payload": {
                "extension": [{"url": f"{BACKPORT}backport-payload-content", "valueCode": subscription.content}]
            },
            "header": [f"Authorization: Bearer {secret}"],
        },
    }
    if subscription.patient_filter:
        criteria = f"{subscription.resource_type}?patient=Patient/{subscription.patient_filter}"
        resource["_criteria"] = {"extension": [{"url": f"{BACKPORT}backport-filter-criteria", "valueString": criteria}]}
    if subscription.remote_id:
        resource["id"] = subscription.remote_id
    return resource


def _audit_change(subscription: EhrSubscription, what: str, outcome: str = AuditRecord.Outcome.SUCCESS) -> None:
    audit_record_create(
        action=AuditRecord.Action.SUBSCRIPTION_CHANGE,
        outcome=outcome,
        actor=f"ehr:{subscription.registration.iss}",
        purpose_of_use="TREAT",
        detail={
            "subscription": subscription.pk,
            "topic": subscription.topic,
            "remote_id": subscription.remote_id,
            "what": what,
        },
    )


def subscription_register(subscription: EhrSubscription) -> EhrSubscription:
    """Write the subscription at the EHR (`requested`, a new secret): created, or re-activated when it has an id.

    The secret's hash is saved first: the EHR's handshake may arrive before its answer to our write.
    """
    secret = secrets.token_urlsafe(32)
    reactivating = bool(subscription.remote_id)
    subscription.secret_hash, subscription.status = secret_hash(secret), Status.REQUESTED
    subscription.save(update_fields=["secret_hash", "status", "updated_at"])
    client, body = ehr_client(subscription.registration), subscription_resource(subscription, secret)
    try:
        if reactivating:
            stored = client.request("PUT", f"Subscription/{subscription.remote_id}", body=body)
        else:
            stored = client.request("POST", "Subscription", body=body)
    except Exception as exc:
        _save(subscription, status=Status.ERROR, last_error=f"Registering at the EHR failed: {exc}"[:1000])
        _audit_change(subscription, "register", AuditRecord.Outcome.FAILURE)
        raise
    fields: dict[str, Any] = {"remote_id": str(stored.get("id") or subscription.remote_id), "last_error": ""}
    if reactivating:
        fields["reactivations"] = subscription.reactivations + 1
    _save(subscription, **fields)
    _audit_change(subscription, "reactivated" if reactivating else "registered")
    return subscription


def _save(subscription: EhrSubscription, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(subscription, name, value)
    subscription.save(update_fields=[*fields, "updated_at"])


def _topics() -> list[tuple[str, str, str]]:
    """(topic, resource type, content) of each configured topic."""
    topics = []
    for topic, value in settings.REALTIME_SUBSCRIPTION_TOPICS.items():
        resource_type, _, content = str(value).partition("|")
        topics.append((str(topic), resource_type, content))
    return topics


def subscriptions_ensure(registration: EhrRegistration, *, patient: str = "") -> list[EhrSubscription]:
    """Our subscriptions at one EHR, registered where they are not yet (or were refused); returns them all."""
    ensured = []
    for topic, resource_type, content in _topics():
        subscription, _ = EhrSubscription.objects.get_or_create(
            registration=registration,
            topic=topic,
            patient_filter=patient,
            defaults={
                "resource_type": resource_type,
                "content": content,
                "heartbeat_seconds": settings.REALTIME_HEARTBEAT_SECONDS,
            },
        )
        if not subscription.remote_id or subscription.status in (Status.ERROR, Status.OFF):
            subscription_register(subscription)
        ensured.append(subscription)
    return ensured


def _requery_since(subscription: EhrSubscription) -> datetime:
    anchor = subscription.events_through_at or subscription.handshake_at or subscription.created_at
    return anchor - timedelta(seconds=settings.REALTIME_REQUERY_MARGIN_SECONDS)


def subscription_requery(subscription: EhrSubscription) -> Published:
    """Search what changed since the last event we had and publish it (redeliveries are recognised)."""
    since = _requery_since(subscription)
    params = {"_lastUpdated": f"ge{since.isoformat().replace('+00:00', 'Z')}", "_count": "1000"}
    if subscription.patient_filter:
        params["patient"] = subscription.patient_filter
    found = ehr_client(subscription.registration).search(subscription.resource_type, params)
    published = events_publish(found, registration_id=subscription.registration_id, source=subscription.source)
    latest = max((_last_updated(r) for r in found), default=None)
    if latest is not None and (subscription.events_through_at is None or latest > subscription.events_through_at):
        subscription.events_through_at = latest
    return published


def _last_updated(resource: dict[str, Any]) -> datetime:
    text = str((resource.get("meta") or {}).get("lastUpdated") or "1970-01-01T00:00:00Z")
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _remote_status(subscription: EhrSubscription) -> tuple[str, int]:
    """(status, events counted) the EHR reports; ('off', 0) when it no longer has the subscription."""
    client = ehr_client(subscription.registration)
    try:
        answer = status_bundle_read(client.get(f"Subscription/{subscription.remote_id}/$status"))
    except FhirRequestRejected as exc:
        if exc.extra.get("upstream_status") in (404, 410):
            return Status.OFF, 0
        raise
    return answer.status, answer.events_since_start or 0


def subscription_recover(subscription_id: int, reason: str) -> EhrSubscription:
    """Ask `$status`; re-activate when the EHR has it in error or off; re-query when events were missed.

    No transaction spans the EHR calls: the handshake a re-activation causes may arrive before they end, and
    must find the new secret's hash saved. The counters are updated under the row lock at the end.
    """
    subscription = EhrSubscription.objects.select_related("registration").get(pk=subscription_id)
    if not subscription.remote_id:
        return subscription_register(subscription)
    status, counted = _remote_status(subscription)
    logger.info(
        "subscription %s: recovering (%s); the EHR says %s, %s events", subscription.pk, reason, status, counted
    )
    if status in (Status.ERROR, Status.OFF):
        if status == Status.OFF and counted == 0:
            subscription.remote_id = ""  # the EHR lost it: register anew
        subscription_register(subscription)
    anchor = subscription.events_through_at
    if counted > subscription.events_through:
        subscription_requery(subscription)
    with transaction.atomic():
        current = EhrSubscription.objects.select_for_update().get(pk=subscription_id)
        current.events_through = max(current.events_through, counted)
        if subscription.events_through_at != anchor:
            current.events_through_at = max(filter(None, (current.events_through_at, subscription.events_through_at)))
        if status == Status.ACTIVE:
            current.status = Status.ACTIVE
        current.recoveries += 1
        current.last_contact_at = timezone.now()
        current.save()
    return current


def subscriptions_check(now: datetime | None = None) -> list[int]:
    """The beat task's body: recover each subscription whose heartbeats stopped, that is in error, or whose
    handshake never came; the ids it recovered."""
    now = now or timezone.now()
    recovered = []
    for subscription in EhrSubscription.objects.exclude(status=Status.OFF).select_related("registration"):
        reason = _check_reason(subscription, now)
        if reason is None:
            continue
        if reason == "missed heartbeat":
            EhrSubscription.objects.filter(pk=subscription.pk).update(
                missed_heartbeats=subscription.missed_heartbeats + 1
            )
        try:
            subscription_recover(subscription.pk, reason)
            recovered.append(subscription.pk)
        except Exception:  # one EHR down must not stop the others' checks
            logger.exception("subscription %s: recovery failed", subscription.pk)
    return recovered


def _check_reason(subscription: EhrSubscription, now: datetime) -> str | None:
    late = timedelta(seconds=subscription.heartbeat_seconds * settings.REALTIME_HEARTBEAT_GRACE)
    if subscription.status == Status.ERROR:
        return "error"
    last = subscription.last_contact_at or subscription.updated_at
    if now - last <= late:
        return None
    return "missed heartbeat" if subscription.status == Status.ACTIVE else "no handshake"
