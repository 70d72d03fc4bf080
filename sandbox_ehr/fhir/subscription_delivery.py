"""Delivery of the sandbox's subscription notifications over real HTTP, off the request path.

One dispatcher thread per process (started by the first Subscription write, topic event or `$status` call in
that process; the demo runs without a Celery worker) wakes when a write commits and at least every
TICK_SECONDS. For each `requested` or `active` subscription it takes a lease on its state row (so that
several web processes never deliver the same events twice) and, over HTTP with the channel's headers and
timeout (Subscriptions R5 Backport IG 1.1.0, channels.html#rest-hook):
- `requested`: sends the `handshake`; a 2xx answer makes it `active`, anything else `error`;
- `active`: sends the events not yet delivered, in order, up to `maxCount` per notification; with none to
  send and `heartbeatPeriod` seconds since the last notification, a `heartbeat`.
A failed delivery is retried after 2, 4, ... seconds; MAX_FAILURES in a row set the subscription `error`
(its events are still counted; `$events` serves them). A client re-activates it by writing it `requested`.
"""

import logging
import threading
from datetime import timedelta
from typing import Any

import orjson
import requests
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from config import outbound
from sandbox_ehr.auth.endpoints import fhir_base
from sandbox_ehr.fhir.models import FhirResource, SubscriptionState
from sandbox_ehr.fhir.store import Write, resources_store
from sandbox_ehr.fhir.subscription_notifications import notification_bundle
from sandbox_ehr.fhir.subscriptions import MAX_TIMEOUT_SECONDS

logger = logging.getLogger("stratify.sandbox_fhir")
State = SubscriptionState.Status
TICK_SECONDS = 1.0
MAX_FAILURES = 3
MAX_BATCHES_PER_TICK = 20


class _Dispatcher(threading.Thread):
    """Delivers until stopped; each round closes its database connection (no idle connection is kept)."""

    def __init__(self) -> None:
        super().__init__(name="sandbox-subscriptions", daemon=True)
        self.wake = threading.Event()
        self.stopping = False

    def run(self) -> None:
        while not self.stopping:
            self.wake.wait(TICK_SECONDS)
            self.wake.clear()
            if self.stopping:
                break
            try:
                dispatch_once()
            except Exception:  # one bad round must not end the thread
                logger.exception("subscription dispatch failed")
            finally:
                connection.close()


_lock = threading.Lock()
_thread: _Dispatcher | None = None


def dispatcher_wake() -> None:
    """Start this process's dispatcher if needed and have it look at once."""
    global _thread
    current = threading.current_thread()
    if isinstance(current, _Dispatcher):  # its own status writes commit: look again, start nothing
        current.wake.set()
        return
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = _Dispatcher()
            _thread.start()
        _thread.wake.set()


def dispatcher_stop() -> None:
    """Stop this process's dispatcher and wait for its round to end (tests, shutdown)."""
    global _thread
    with _lock:
        thread, _thread = _thread, None
    if thread is not None:
        thread.stopping = True
        thread.wake.set()
        thread.join(timeout=MAX_TIMEOUT_SECONDS + 5)


def dispatch_once() -> int:
    """One round over every requested or active subscription; how many notifications were delivered."""
    ids = list(
        SubscriptionState.objects.filter(status__in=[State.REQUESTED, State.ACTIVE]).values_list("pk", flat=True)
    )
    return sum(_serve(pk) for pk in ids)


def _claim(pk: int) -> bool:
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    lease = now + timedelta(seconds=MAX_TIMEOUT_SECONDS * MAX_BATCHES_PER_TICK)
    return SubscriptionState.objects.filter(free, pk=pk).update(lease_until=lease) == 1


def _serve(pk: int) -> int:
    if not _claim(pk):
        return 0
    try:
        state = SubscriptionState.objects.get(pk=pk)
        if state.status == State.REQUESTED:
            return _handshake(state)
        if state.status != State.ACTIVE or (state.next_attempt_at and state.next_attempt_at > timezone.now()):
            return 0
        sent = _deliver_events(state)
        return sent or (_heartbeat(state) if _heartbeat_due(state) else 0)
    finally:
        SubscriptionState.objects.filter(pk=pk).update(lease_until=None)


def _headers(state: SubscriptionState) -> dict[str, str]:
    headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json, application/json"}
    for line in state.headers:
        name, _, value = str(line).partition(":")
        headers[name.strip()] = value.strip()
    return headers


def _post(state: SubscriptionState, bundle: dict[str, Any]) -> str | None:
    """POST a notification; None when the endpoint took it (2xx), else why not."""
    try:
        response = outbound.session_for(state.endpoint).post(
            state.endpoint,
            data=orjson.dumps(bundle),
            headers=_headers(state),
            timeout=state.timeout_seconds,
            allow_redirects=False,
        )
    except (requests.RequestException, outbound.AddressRefused) as exc:
        return f"the endpoint could not be reached ({type(exc).__name__})"
    with response:
        return None if 200 <= response.status_code < 300 else f"the endpoint answered HTTP {response.status_code}"


def status_set(resource_id: str, status: str, error: str = "") -> None:
    """Write the Subscription's new status (and `error` note) as a new version; its state row follows it."""
    with transaction.atomic():
        row = FhirResource.objects.select_for_update().filter(resource_type="Subscription", resource_id=resource_id)
        current = row.first()
        if current is None or current.deleted:
            return
        resource = orjson.loads(current.content)
        resource["status"] = status
        resource.pop("error", None)
        if error:
            resource["error"] = error[:1000]
        resources_store([Write(resource, internal=True)])


def _sent(state: SubscriptionState, **fields: Any) -> None:
    SubscriptionState.objects.filter(pk=state.pk).update(
        last_sent_at=timezone.now(), failures=0, next_attempt_at=None, **fields
    )


def _failed(state: SubscriptionState, reason: str) -> None:
    failures = state.failures + 1
    logger.info("subscription %s: delivery failed (%s)", state.resource_id, reason)
    if failures >= MAX_FAILURES:
        SubscriptionState.objects.filter(pk=state.pk).update(failures=failures)
        status_set(state.resource_id, State.ERROR, f"{failures} deliveries failed in a row; the last: {reason}.")
        return
    retry = timezone.now() + timedelta(seconds=2**failures)
    SubscriptionState.objects.filter(pk=state.pk).update(failures=failures, next_attempt_at=retry)


def _handshake(state: SubscriptionState) -> int:
    reason = _post(state, notification_bundle(state, "handshake", fhir_base()))
    if reason is not None:
        status_set(state.resource_id, State.ERROR, f"The handshake failed: {reason}.")
        return 0
    # Events counted before the handshake was sent (while in error) are not sent now: the handshake tells the
    # client how many there were (events-since-subscription-start), and `$events` or a search recovers them.
    # `state` was read before the handshake: events counted since are delivered next.
    _sent(state, delivered_through=state.events_since_start)
    status_set(state.resource_id, State.ACTIVE)
    return 1


def _deliver_events(state: SubscriptionState) -> int:
    sent = 0
    for _ in range(MAX_BATCHES_PER_TICK):
        events = list(state.events.filter(number__gt=state.delivered_through).order_by("number")[: state.max_count])
        if not events:
            break
        bundle = notification_bundle(state, "event-notification", fhir_base(), events, events_count=events[-1].number)
        reason = _post(state, bundle)
        if reason is not None:
            _failed(state, reason)
            break
        state.delivered_through = events[-1].number
        _sent(state, delivered_through=state.delivered_through)
        sent += 1
    return sent


def _heartbeat_due(state: SubscriptionState) -> bool:
    if not state.heartbeat_seconds:
        return False
    return state.last_sent_at is None or timezone.now() - state.last_sent_at >= timedelta(
        seconds=state.heartbeat_seconds
    )


def _heartbeat(state: SubscriptionState) -> int:
    reason = _post(state, notification_bundle(state, "heartbeat", fhir_base()))
    if reason is not None:
        _failed(state, reason)
        return 0
    _sent(state)
    return 1
