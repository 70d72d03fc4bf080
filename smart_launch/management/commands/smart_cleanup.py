"""`manage.py smart_cleanup [--dry-run]`: delete spent authorization requests and SMART sessions past use."""

from config.purge_command import PurgeCommand
from smart_launch.retention import purge_expired, purge_preview


class Command(PurgeCommand):
    """Purge expired SMART launch data (the hourly Celery beat task does the same)."""

    help = (
        "Delete used or expired authorization requests and SMART sessions that can no longer be refreshed "
        "(SMART_STATE_TTL_SECONDS, SMART_SESSION_RETENTION_HOURS); --dry-run only counts them."
    )
    counted = staticmethod(purge_preview)
    purged = staticmethod(purge_expired)
