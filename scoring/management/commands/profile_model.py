"""`manage.py profile_model DIR`: add the reference profile to an already published artifact folder.

Recomputes the reference rows of the version's trainer (from STRATIFY_DATA_DIR: the held-out calibration
patients of the training data) and writes the card JSON's `reference_profile` (feature and score
distributions, `scoring.monitoring.profile`). model.onnx, booster.json and card.md are only read, so the
registered checksums still hold; re-run `install_models` or `register_model` to give the registry the new card.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scoring.catalogue.training import trainer_module
from scoring.serving.registry import resolve_path
from scoring.training.publish import CARD_JSON, profile_add


class Command(BaseCommand):
    """Profile a trained version's reference rows without retraining it."""

    help = "Add the reference profile (feature and score distributions the drift monitors compare with) to a folder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("artifact_dir", help="folder, absolute or relative to the project root")

    def handle(self, *args: Any, **options: Any) -> None:
        folder = resolve_path(options["artifact_dir"])
        if not (folder / CARD_JSON).is_file():
            raise CommandError(f"{folder} has no {CARD_JSON}")
        rows, rows_from = _reference_of(json.loads((folder / CARD_JSON).read_text()))
        card = profile_add(folder, rows, rows_from)
        profile = card["reference_profile"]
        self.stdout.write(
            self.style.SUCCESS(
                f"{card['name']} {card['version']}: reference profile of {profile['rows']} rows ({rows_from})"
            )
        )


def _reference_of(card: dict[str, Any]) -> tuple[Any, str]:
    """The rows its trainer took as the reference, and where they come from."""
    if card.get("recalibration") or card.get("adaptation"):
        raise CommandError("A recalibrated or adapted version is profiled on its site's rows when it is written.")
    module = trainer_module(str(card.get("name")))
    return module.reference_rows(), str(module.REFERENCE_ROWS_FROM)
