"""`manage.py model_report NAME [--json]`: the active version's card metrics."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scoring.card import external_metrics
from scoring.models import ModelVersion


def report(name: str) -> dict[str, Any]:
    """Headline metrics of the active version of `name` (from its model card)."""

    mv = ModelVersion.objects.filter(name=name, status=ModelVersion.Status.ACTIVE).first()
    if mv is None:
        raise CommandError(f"no active version of {name!r}")
    card = mv.card or {}
    external_set, ext = external_metrics(card)
    return {
        "name": mv.name,
        "version": mv.version,
        "kind": mv.kind,
        "status": mv.status,
        "sha256": mv.sha256,
        "spec_version": mv.spec_version,
        "external_set": external_set,
        "external_auroc": ext.get("auroc"),
        "external_auprc": ext.get("auprc"),
        "external_utility": ext.get("utility"),
        "ece": ext.get("ece"),
        "brier": ext.get("brier"),
        "n_train": card.get("n_train"),
        "n_external": ext.get("n_rows"),
        "thresholds": card.get("thresholds"),
        "baselines": {
            k: {"auroc": v.get("auroc"), "utility": v.get("utility_at_alarm")}
            for k, v in (ext.get("baselines") or {}).items()
        },
        "subgroups": {k: v.get("auroc") for k, v in (ext.get("subgroups") or {}).items()},
    }


class Command(BaseCommand):
    """Print the active version's card metrics."""

    help = "Print the active version's model-card metrics (use --json for machine-readable output)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        data = report(options["name"])
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2, sort_keys=True))
            return
        for key, value in data.items():
            self.stdout.write(f"{key}: {value}")
