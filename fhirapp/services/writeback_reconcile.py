"""The reconciler: queue again the write-backs that are pending past their due time (Celery beat, every minute).

A row is due when queued, when its attempt's time limit ends, or when its retry's backoff ends (`next_attempt_at`).
Pending longer than WRITEBACK_RECONCILE_GRACE_SECONDS past that, with no attempt holding its lease, its message
was lost: a worker killed mid-attempt (with Redis the message would only come back after the visibility
timeout), a broker outage when it was queued, or a full queue (WRITEBACK_QUEUE_MAX). Queuing one twice is
harmless: an attempt takes the row's lease, and a delivered row is never sent again.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from config.leases import lease_free
from fhirapp.models import WriteBack
from fhirapp.services.writeback_delivery import write_back_dispatch

logger = logging.getLogger(__name__)
BATCH = 500


def write_back_overdue(now: datetime) -> list[int]:
    """Ids of pending write-backs past their due time plus the grace, whose lease (if any) has run out."""
    cutoff = now - timedelta(seconds=settings.WRITEBACK_RECONCILE_GRACE_SECONDS)
    lost = Q(next_attempt_at__lt=cutoff) | Q(next_attempt_at__isnull=True, updated_at__lt=cutoff)
    rows = WriteBack.objects.filter(lost, lease_free(now), status=WriteBack.Status.PENDING).order_by("next_attempt_at")
    return list(rows.values_list("pk", flat=True)[:BATCH])


def write_back_reconcile(*, now: datetime | None = None) -> int:
    """Queue the overdue write-backs again (at most BATCH a run, none past a full queue); how many were queued."""
    now = now or timezone.now()
    queued = 0
    for write_back_id in write_back_overdue(now):
        WriteBack.objects.filter(pk=write_back_id).update(next_attempt_at=now)
        if not write_back_dispatch(write_back_id):
            break
        queued += 1
    if queued:
        logger.warning("write-back reconciler queued %s lost write-back(s) again", queued)
    return queued
