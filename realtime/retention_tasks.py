"""Celery task of the real-time door's retention: the daily purge Celery beat runs (`realtime.retention`)."""

from celery import shared_task

from realtime.retention import realtime_purge


@shared_task(name="realtime.purge")
def realtime_purge_task() -> dict[str, int]:
    """Daily (beat): delete device vitals, rescore records and dead letters older than REALTIME_RETENTION_DAYS."""
    return realtime_purge()
