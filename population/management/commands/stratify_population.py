"""`manage.py stratify_population COHORT [--since auto|full] [--wait]`: run a cohort's stratification now."""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import ApplicationError
from population.models import Cohort, PopulationRun
from population.services.runs import ACTIVE, run_start


class Command(BaseCommand):
    help = "Export a cohort from its EHR (Bulk Data), score every patient and store the worklist."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("cohort", help="the cohort's slug")
        parser.add_argument(
            "--since",
            choices=["auto", "full"],
            default="auto",
            help="auto: only what changed since the last completed run (default); full: everything",
        )
        parser.add_argument(
            "--wait",
            type=float,
            default=0,
            metavar="SECONDS",
            help="wait up to SECONDS for the run to end (it runs on the Celery workers)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Start the run and report where it stands."""
        cohort = Cohort.objects.filter(slug=options["cohort"]).first()
        if cohort is None:
            raise CommandError(f"No cohort {options['cohort']!r}; see Django admin, Population cohorts.")
        try:
            run = run_start(cohort=cohort, since=options["since"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        deadline = time.monotonic() + options["wait"]
        run.refresh_from_db()
        while run.status in ACTIVE and time.monotonic() < deadline:
            time.sleep(1)
            run.refresh_from_db()
        self.stdout.write(
            f"run {run.pk} of {cohort.slug}: {run.status}"
            f"{' (incremental, _since ' + run.since.isoformat() + ')' if run.since else ' (full)'}, "
            f"{run.patients_scored}/{run.patients_total} patients scored"
        )
        if run.status == PopulationRun.Status.FAILED:
            raise CommandError(str(run.error.get("message") or run.error))
