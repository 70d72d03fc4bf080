"""The Subscription operations of the sandbox FHIR server: `$status` and `$events` (Subscriptions R5 Backport IG).

GET [base]/Subscription/$status?id=..&status=..  and  GET [base]/Subscription/[id]/$status: a searchset Bundle
of `query-status` Parameters; GET [base]/Subscription/[id]/$events?eventsSinceNumber=..&eventsUntilNumber=..
&content=..: a history Bundle of the events kept (type `query-event`).
https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/OperationDefinition-backport-subscription-events.html
"""

import copy

from django.http import HttpRequest, HttpResponse

from sandbox_ehr.fhir.errors import InvalidResource
from sandbox_ehr.fhir.models import SubscriptionState
from sandbox_ehr.fhir.outcomes import fhir_json
from sandbox_ehr.fhir.permissions import Grant, compartment_require, scope_require
from sandbox_ehr.fhir.selectors import resource_get
from sandbox_ehr.fhir.subscription_delivery import dispatcher_wake
from sandbox_ehr.fhir.subscription_notifications import notification_bundle, status_bundle
from sandbox_ehr.fhir.subscriptions import CONTENTS, MAX_EVENTS_PER_NOTIFICATION
from sandbox_ehr.fhir.views import base_url, fhir_endpoint


def _readable(grant: Grant | None) -> None:
    scope_require(grant, "Subscription", "read")
    compartment_require(grant, "Subscription", "read", "")  # no patient compartment holds a Subscription


def _state(resource_id: str) -> SubscriptionState:
    resource_get("Subscription", resource_id)  # 404 / 410 as a read
    return SubscriptionState.objects.get(resource_id=resource_id)


def _listed(request: HttpRequest, name: str) -> list[str]:
    return [v for value in request.GET.getlist(name) for v in value.split(",") if v]


def _number(request: HttpRequest, name: str, default: int) -> int:
    value = request.GET.get(name, "")
    if value == "":
        return default
    if not value.isdigit():
        raise InvalidResource(f"{name} must be an event number.")
    return int(value)


@fhir_endpoint("GET")
def subscription_status(request: HttpRequest, grant: Grant | None, resource_id: str = "") -> HttpResponse:
    """$status of one subscription (instance level) or of those named by `id` / `status` (type level)."""
    _readable(grant)
    if resource_id:
        states = [_state(resource_id)]
    else:
        rows = SubscriptionState.objects.order_by("resource_id")
        ids, statuses = _listed(request, "id"), _listed(request, "status")
        rows = rows.filter(resource_id__in=ids) if ids else rows
        states = list(rows.filter(status__in=statuses) if statuses else rows)
    dispatcher_wake()  # a server restarted since: its heartbeats and deliveries resume
    return fhir_json(status_bundle(states, base_url(request)))


@fhir_endpoint("GET")
def subscription_events(request: HttpRequest, grant: Grant | None, resource_id: str) -> HttpResponse:
    """$events: the kept events from eventsSinceNumber to eventsUntilNumber (inclusive; at most 100)."""
    _readable(grant)
    state = copy.copy(_state(resource_id))
    since = _number(request, "eventsSinceNumber", 1)
    until = _number(request, "eventsUntilNumber", state.events_since_start)
    content = request.GET.get("content") or state.content
    if content not in CONTENTS:
        raise InvalidResource(f"content must be one of {', '.join(CONTENTS)}.")
    state.content = content
    events = state.events.filter(number__gte=since, number__lte=until).order_by("number")
    return fhir_json(
        notification_bundle(state, "query-event", base_url(request), list(events[:MAX_EVENTS_PER_NOTIFICATION]))
    )
