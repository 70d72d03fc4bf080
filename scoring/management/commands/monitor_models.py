"""`manage.py monitor_models [--model M] [--since DATE|Nd]`: run the drift and performance monitors now (the daily
task's work)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from scoring.monitoring.evaluation import models_evaluate
from scoring.monitoring.services import models_monitor
from scoring.selectors import model_registered


def since_parse(text: str) -> datetime:
    """An ISO date or date-time (UTC unless it says otherwise), or "N d" / "N h" before now."""
    relative = re.fullmatch(r"\s*(\d+)\s*([dh])\s*", text)
    if relative:
        amount = int(relative.group(1))
        return timezone.now() - (timedelta(days=amount) if relative.group(2) == "d" else timedelta(hours=amount))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"--since {text!r} is neither an ISO date/time nor a span like 7d or 12h.") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.get_current_timezone())


class Command(BaseCommand):
    """Drift of each serving ML version's served inferences against its reference profile, stored and audited."""

    help = "Run the drift monitors on served inferences now (default window: MONITORING_WINDOW_DAYS)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", help="only this model's serving versions")
        parser.add_argument("--since", help="window start: ISO date/time, or 7d / 12h before now")

    def handle(self, *args: Any, **options: Any) -> None:

        if options["model"] and not model_registered(options["model"]):
            raise CommandError(f"No model named {options['model']!r} is registered.")
        since = since_parse(options["since"]) if options["since"] else None
        runs = models_monitor(model_name=options["model"], since=since, run_by="manage.py monitor_models")
        for run in runs:
            flagged = f": {', '.join(run.flagged[:8])}{' ...' if len(run.flagged) > 8 else ''}" if run.flagged else ""
            self.stdout.write(f"{run.model_name} {run.model_version}: {run.verdict} ({run.rows} served){flagged}")
        for perf in models_evaluate(model_name=options["model"], since=since, run_by="manage.py monitor_models"):
            crossed = f": {'; '.join(b['text'] for b in perf.breaches[:4])}" if perf.breaches else ""
            self.stdout.write(
                f"{perf.model_name} {perf.model_version} performance: {perf.verdict} "
                f"({perf.rows} labelled, {perf.positives} with the outcome){crossed}"
            )
        if not runs:
            self.stdout.write("No serving ML version to monitor.")
