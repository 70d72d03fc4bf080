"""Retention of SMART launch data: delete spent authorization requests and sessions that can no longer be used."""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.services import purge_record
from smart_launch.models import AuthorizationRequest, SmartSession

PURGE_ACTION = "smart_purge"
PURGE_ACTOR = "stratify:smart-cleanup"


def _requests_spent(now: datetime) -> QuerySet[AuthorizationRequest]:
    """Used once already, or older than the state lifetime `authorization_request_consume` enforces."""
    cutoff = now - timedelta(seconds=settings.SMART_STATE_TTL_SECONDS)
    return AuthorizationRequest.objects.filter(Q(used_at__isnull=False) | Q(created_at__lt=cutoff))


def _sessions_dead(now: datetime) -> QuerySet[SmartSession]:
    """Expired and beyond refresh: no refresh token, or not refreshed for SMART_SESSION_RETENTION_HOURS.

    `access_token_fresh` moves `expires_at` forward on every refresh, so a session with a refresh token
    whose access token expired longer ago than the grace period has not been used for that long.
    """
    grace = timedelta(hours=max(settings.SMART_SESSION_RETENTION_HOURS, 0))
    return SmartSession.objects.filter(
        Q(refresh_token_encrypted="", expires_at__lt=now) | Q(expires_at__lt=now - grace)
    )


def _purgeable(now: datetime) -> dict[str, QuerySet[Any]]:
    return {"authorization_requests": _requests_spent(now), "smart_sessions": _sessions_dead(now)}


def purge_preview(now: datetime | None = None) -> dict[str, int]:
    """What `purge_expired` would delete at `now`, counted; deletes nothing."""
    return {name: rows.count() for name, rows in _purgeable(now or timezone.now()).items()}


def purge_expired(now: datetime | None = None) -> dict[str, int]:
    """Delete spent authorization requests and dead sessions in one transaction; audit the counts.

    The audit record (`smart_purge`) carries counts and the retention settings only, never tokens or
    patients; a run that deletes nothing writes no record.
    """
    with transaction.atomic():
        counts = {
            name: rows.delete()[1].get(rows.model._meta.label, 0)
            for name, rows in _purgeable(now or timezone.now()).items()
        }
        purge_record(
            action=PURGE_ACTION,
            actor=PURGE_ACTOR,
            counts=counts,
            detail={
                "state_ttl_seconds": settings.SMART_STATE_TTL_SECONDS,
                "session_retention_hours": settings.SMART_SESSION_RETENTION_HOURS,
            },
        )
    return counts
