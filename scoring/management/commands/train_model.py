"""`manage.py train_model sepsis|readmission`: train from the shared data and write versioned artifacts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

from django.core.management.base import BaseCommand, CommandParser

from scoring.catalogue import definition, definitions
from scoring.catalogue.training import trainer_module
from scoring.training.publish import ARTIFACTS_DIR, headline_metrics, publish


class Trainer(Protocol):
    """A catalogue training entry point: trains into `out_dir`, returns the model card payload."""

    def __call__(self, out_dir: Path, limit_patients: int | None = None) -> dict[str, Any]: ...


class Command(BaseCommand):
    """Train one model and export ONNX + booster + model card."""

    help = "Train a model from STRATIFY_DATA_DIR and write its artifacts (ONNX, booster JSON, model card)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", choices=[m.name for m in definitions() if m.trainer])
        parser.add_argument("--model-version", default="1.0.0", help="version label of the new artifacts")
        parser.add_argument("--out", default="", help="output folder (default scoring/artifacts/NAME/VERSION)")
        parser.add_argument("--limit-patients", type=int, default=None, help="smoke run on the first N patients")
        parser.add_argument("--register", action="store_true", help="also register the new version (shadow)")

    def handle(self, *args: Any, **options: Any) -> None:

        name, version = options["name"], options["model_version"]
        out = Path(options["out"]) if options["out"] else ARTIFACTS_DIR / name / version
        started = time.monotonic()
        card = _trainer(name)(out, limit_patients=options["limit_patients"])
        card = publish(card, out, version)
        self.stdout.write(
            self.style.SUCCESS(
                f"{name} {version}: {out} in {time.monotonic() - started:.0f} s; sha256 {card['sha256']}"
            )
        )
        for key, value in headline_metrics(card).items():
            self.stdout.write(f"  external {key}: {value}")
        if options["register"]:
            from django.core.management import call_command

            call_command("register_model", str(out), "--status", "shadow", stdout=self.stdout)


def _trainer(name: str) -> Trainer:
    """The catalogue's training entry point of an ML model ("module:function")."""
    model = definition(name)
    function = model.trainer.partition(":")[2] if model is not None else ""
    trainer: Trainer = getattr(trainer_module(name), function)
    return trainer
