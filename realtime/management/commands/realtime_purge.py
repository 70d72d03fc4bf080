"""`manage.py realtime_purge [--dry-run]`: delete the real-time door's data older than REALTIME_RETENTION_DAYS."""

from config.purge_command import PurgeCommand
from realtime.retention import purge_preview, realtime_purge


class Command(PurgeCommand):
    """Purge old device vitals, rescore records and dead letters (the daily Celery beat task does the same)."""

    help = (
        "Delete device vitals received, rescores scored and dead-lettered stream entries added more than "
        "REALTIME_RETENTION_DAYS ago, in batches (audited as counts); --dry-run only counts them."
    )
    counted = staticmethod(purge_preview)
    purged = staticmethod(realtime_purge)
