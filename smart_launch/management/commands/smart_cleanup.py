"""`manage.py smart_cleanup [--dry-run]`: delete spent authorization requests and SMART sessions past use."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from smart_launch.retention import purge_expired, purge_preview


class Command(BaseCommand):
    """Purge expired SMART launch data (the hourly Celery beat task does the same)."""

    help = (
        "Delete used or expired authorization requests and SMART sessions that can no longer be refreshed "
        "(SMART_STATE_TTL_SECONDS, SMART_SESSION_RETENTION_HOURS); --dry-run only counts them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run = bool(options["dry_run"])
        counts = purge_preview() if dry_run else purge_expired()
        verb = "would delete" if dry_run else "deleted"
        for name, count in counts.items():
            self.stdout.write(f"{verb} {count} {name.replace('_', ' ')}")
