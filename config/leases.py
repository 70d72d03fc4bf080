"""Leases on rows that background tasks work on (a write-back's delivery, a population chunk's scoring).

An attempt takes its row's lease (`lease_until`, `lease_owner`) until its task's time limit, so that a duplicate
message, queued again by a reconciler or delivered again by the broker, never works beside it; the same task (its
own retries, its message delivered again) may take the lease back. A row whose work is unfinished when its lease
has run out was held by a killed or hung worker: its reconciler queues it again, instead of waiting out Redis's
visibility timeout.
"""

from datetime import datetime

from django.db.models import Q


def lease_free(now: datetime, owner: str = "") -> Q:
    """Rows no attempt holds at `now`: never leased, or the lease has run out, or (with `owner`) held by `owner`."""
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    return free | Q(lease_owner=owner) if owner else free
