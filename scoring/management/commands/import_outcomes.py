"""`manage.py import_outcomes FILE`: a labelled outcome file (CSV), stored whole or not at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import ValidationFailed
from scoring.monitoring.outcomes import outcomes_import_file


class Command(BaseCommand):
    """Outcomes (patient, model, label, time) for the performance monitors; see scoring.monitoring.outcomes."""

    help = "Import a labelled outcome CSV (columns patient, model, label, time); any bad row refuses the file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        try:
            batch = outcomes_import_file(text=text, name=path.name, actor="manage.py import_outcomes")
        except ValidationFailed as exc:
            rows = "".join(f"\n  line {r['line']}: {r['error']}" for r in exc.extra.get("rows", []))
            raise CommandError(f"{exc}{rows}") from exc
        self.stdout.write(f"{batch.rows} outcome rows read, {batch.created} new (batch {batch.pk})")
