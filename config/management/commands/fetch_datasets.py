"""`manage.py fetch_datasets [--demo]`: make the data folder hold the data sets, downloaded and verified."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from datasources.fetch import DataUnavailable, ensure


class Command(BaseCommand):
    """Resolve the data folder, keep what is verified, download and convert the rest (see datasources)."""

    help = (
        "Make sure the data sets are present and verified: STRATIFY_DATA_DIR, else shared/data beside the "
        "checkout, else var/data, downloading what is missing from the official sources (or "
        "STRATIFY_DATA_MIRROR). --demo fetches only what the demo needs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--demo",
            action="store_true",
            help="only the demo's data: 100 Synthea bundles and 200 PhysioNet set-B stays (180 MB)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the fetch; its one message becomes the command's error."""
        try:
            ensure(demo=options["demo"], say=self.stdout.write)
        except DataUnavailable as exc:
            raise CommandError(str(exc)) from exc
