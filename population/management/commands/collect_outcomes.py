"""`manage.py collect_outcomes --iss URL [--model M] [--since DATE|Nd]`: outcomes from a registered EHR now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import ApplicationError
from population.services.outcomes import outcomes_collect
from scoring.catalogue import definitions
from scoring.management.commands.monitor_models import since_parse


class Command(BaseCommand):
    """Sepsis onsets and readmissions recorded at the EHR, stored by pseudonym for the performance monitors."""

    help = "Collect outcomes (Conditions with the catalogue's outcome code, inpatient Encounters) from an EHR."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--iss", required=True, help="the EHR's FHIR base URL, as registered")
        parser.add_argument("--model", action="append", help="an ML model (repeatable; default: every one)")
        parser.add_argument("--since", help="recorded since: ISO date/time, or 30d (default: the retention)")

    def handle(self, *args: Any, **options: Any) -> None:
        since = since_parse(options["since"]) if options["since"] else None
        names = options["model"] or [m.name for m in definitions() if m.kind == "ml"]
        for name in names:
            try:
                batch = outcomes_collect(
                    iss=options["iss"], model_name=name, since=since, actor="manage.py collect_outcomes"
                )
            except ApplicationError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"{name}: {batch.rows} outcome records read, {batch.created} new")
