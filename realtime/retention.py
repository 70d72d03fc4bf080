"""Retention of the real-time door's time series: what is older than REALTIME_RETENTION_DAYS is deleted.

- Device vitals (`DeviceVital`) received before the cutoff. Receipt, not measurement time, so an event is
  remembered (and a resend of it recognised) for the whole retention after it came in.
- Rescore records (`Rescore`, with the events each took in, `RescoredEvent`) scored before the cutoff. Those
  events were acknowledged on the stream long before, so none of them can be delivered again.
- Dead-lettered stream entries (`stratify:vitals:dead`) added before the cutoff (XTRIM MINID).

The vitals stream itself needs no purge: consumers trim what every consumer acknowledged (`realtime.consumer`)
and each append caps it at about REALTIME_STREAM_MAXLEN entries (`realtime.stream`). Patients' online states
expire after REALTIME_STATE_TTL_SECONDS without events.

Rows go in batches of PURGE_BATCH, each its own short transaction, so a large backlog never holds locks or
a transaction for long and a run stopped midway keeps what it did. One audit record (`realtime_purge`) carries
the counts and the cutoff, never a patient; a run that deletes nothing writes none. Celery beat runs it daily
(`realtime.purge`) and `manage.py realtime_purge [--dry-run]` runs it at will.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from audit.services import purge_record
from realtime.models import DeviceVital, Rescore
from realtime.stream import DEAD_LETTER, stream_client

PURGE_ACTION = "realtime_purge"
PURGE_ACTOR = "stratify:realtime-retention"
PURGE_BATCH = 5000


def retention_cutoff(now: datetime | None = None) -> datetime:
    """What is older than this goes: now less REALTIME_RETENTION_DAYS."""
    return (now or timezone.now()) - timedelta(days=settings.REALTIME_RETENTION_DAYS)


def _purgeable(cutoff: datetime) -> dict[str, models.QuerySet[Any]]:
    return {
        "device_vitals": DeviceVital.objects.filter(received_at__lt=cutoff),
        "rescores": Rescore.objects.filter(scored_at__lt=cutoff),
    }


def purge_preview(now: datetime | None = None) -> dict[str, int]:
    """What `realtime_purge` would delete at `now` (rows; dead letters as entries), counted; deletes nothing."""
    cutoff = retention_cutoff(now)
    counts = {name: rows.count() for name, rows in _purgeable(cutoff).items()}
    letters: list[Any] = stream_client().xrange(DEAD_LETTER, "-", f"({_stream_id(cutoff)}")  # type: ignore[assignment]
    counts["dead_letters"] = len(letters)
    return counts


def realtime_purge(now: datetime | None = None, *, batch: int = PURGE_BATCH) -> dict[str, int]:
    """Delete what is older than the retention, in batches; the counts per kind, audited (also when a failure
    stops the run midway: what went before it is recorded)."""
    cutoff = retention_cutoff(now)
    purgeable = _purgeable(cutoff)
    counts = dict.fromkeys([*purgeable, "dead_letters"], 0)
    try:
        for name, rows in purgeable.items():
            for deleted in _batches_deleted(rows, batch):
                counts[name] += deleted
        counts["dead_letters"] = int(stream_client().xtrim(DEAD_LETTER, minid=_stream_id(cutoff), approximate=False))
    finally:
        purge_record(
            action=PURGE_ACTION,
            actor=PURGE_ACTOR,
            counts=counts,
            detail={"before": cutoff.isoformat(), "retention_days": settings.REALTIME_RETENTION_DAYS},
        )
    return counts


def _batches_deleted(rows: models.QuerySet[Any], batch: int) -> Iterator[int]:
    """Delete `rows` `batch` primary keys at a time (cascades included), each batch one transaction; yields
    each batch's row count."""
    while True:
        with transaction.atomic():
            keys = list(rows.values_list("pk", flat=True)[:batch])
            if keys:
                rows.model.objects.filter(pk__in=keys).delete()
        if not keys:
            return
        yield len(keys)


def _stream_id(moment: datetime) -> str:
    """The first stream id at `moment` (an id starts with its milliseconds since the epoch)."""
    return f"{int(moment.timestamp() * 1000)}-0"
