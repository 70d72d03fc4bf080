"""The one shape of a retention command: `--dry-run` counts what would be deleted, else it is deleted; each count
is printed as "<verb> <count> <kind>". A command names its two functions (`counted`, `purged`)."""

from collections.abc import Callable
from typing import Any, ClassVar

from django.core.management.base import BaseCommand, CommandParser

Counts = Callable[[], dict[str, int]]


class PurgeCommand(BaseCommand):
    """A management command that purges (or with --dry-run counts) one app's expired data."""

    counted: ClassVar[Counts]
    purged: ClassVar[Counts]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run = bool(options["dry_run"])
        counts = type(self).counted() if dry_run else type(self).purged()
        verb = "would delete" if dry_run else "deleted"
        for name, count in counts.items():
            self.stdout.write(f"{verb} {count} {name.replace('_', ' ')}")
