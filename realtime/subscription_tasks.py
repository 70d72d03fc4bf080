"""Celery tasks of the FHIR Subscriptions door: a recovery after a gap, and the beat's heartbeat check."""

from typing import Any

from celery import shared_task

from fhirapp.errors import UpstreamFhirError
from realtime.subscriptions import subscription_recover, subscriptions_check


@shared_task(name="realtime.subscription_recover", bind=True, max_retries=5, acks_late=True)
def subscription_recover_task(self: Any, subscription_id: int, reason: str) -> int:
    """`$status`, re-activation and re-query for one subscription; an EHR that fails is asked again later."""
    try:
        return subscription_recover(subscription_id, reason).events_through
    except UpstreamFhirError as exc:
        raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 2)) from exc


@shared_task(name="realtime.subscriptions_check")
def subscriptions_check_task() -> list[int]:
    """Every minute (beat): recover subscriptions whose heartbeats stopped, in error, or never handshaken."""
    return subscriptions_check()
