"""`manage.py register_model DIR [--status shadow|canary|active]`: register a trained artifact folder."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import ApplicationError
from scoring.models import ModelVersion
from scoring.services_registry import model_register


class Command(BaseCommand):
    """Register (idempotently) an artifact folder written by train_model."""

    help = "Register a model artifact folder (model.onnx, booster.json, card.json) in the registry."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("artifact_dir", help="folder, absolute or relative to the project root")
        parser.add_argument("--status", default=ModelVersion.Status.SHADOW, choices=ModelVersion.Status.values)
        parser.add_argument("--by", default="manage.py register_model", help="who registers it")

    def handle(self, *args: Any, **options: Any) -> None:

        try:
            mv = model_register(
                artifact_dir=options["artifact_dir"], registered_by=options["by"], status=options["status"]
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(f"registered {mv.name} {mv.version} ({mv.status}) sha256 {mv.sha256}"))
