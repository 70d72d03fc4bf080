"""`manage.py explain_model DIR`: add the global explanation to an already published artifact folder.

Recomputes the evaluation rows the version was checked on at training (from STRATIFY_DATA_DIR), then
writes the card's `global_explanation`, card.md and explanation.png. model.onnx and booster.json are
only read, so the registered checksums still hold; re-run `install_models` or `register_model` to
show the new card in the registry.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scoring.catalogue.training import trainer_module
from scoring.serving.registry import resolve_path
from scoring.training.publish import CARD_JSON, explanation_add


class Command(BaseCommand):
    """Explain a trained version with shap (mean |SHAP| per feature) without retraining it."""

    help = "Add the model card's global explanation (mean |SHAP| per feature, a figure) to an artifact folder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("artifact_dir", help="folder, absolute or relative to the project root")

    def handle(self, *args: Any, **options: Any) -> None:
        folder = resolve_path(options["artifact_dir"])
        if not (folder / CARD_JSON).is_file():
            raise CommandError(f"{folder} has no {CARD_JSON}")
        card = json.loads((folder / CARD_JSON).read_text())
        card = explanation_add(folder, _rows_of(card))
        top = ", ".join(f["name"] for f in card["global_explanation"]["features"][:5])
        self.stdout.write(self.style.SUCCESS(f"{card['name']} {card['version']}: explained ({top}, ...)"))


def _rows_of(card: dict[str, Any]) -> Any:
    """The rows its trainer checked and explains a fresh version with."""
    if card.get("recalibration") or card.get("adaptation"):
        raise CommandError(
            "A recalibrated or adapted version is explained on its site's rows when it is written: "
            "re-run recalibrate_model or adapt_model for it."
        )
    return trainer_module(str(card.get("name"))).explanation_rows()
