"""`manage.py recalibrate_model sepsis --data SITE.csv --model-version V`: refit a model's calibration at a site."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import ApplicationError
from scoring.models import ModelVersion
from scoring.serving.registry import resolve_path
from scoring.training.publish import ARTIFACTS_DIR, publish
from scoring.training.recalibrate import MIN_SEPTIC_STAYS, recalibrate


class Command(BaseCommand):
    """Same trees, calibration and thresholds refitted on a site's own labelled stays; written as a new version."""

    help = (
        "Recalibrate the sepsis model on a site's labelled ICU stays (PhysioNet 2019 CSV layout): Platt and "
        "thresholds are refitted on half of the patients and measured on the other half; a new version is "
        "written (and registered as a shadow with --register)."
    )

    def add_arguments(self, parser: CommandParser) -> None:

        parser.add_argument("name", choices=["sepsis"])
        parser.add_argument("--data", required=True, help="the site's hourly rows, PhysioNet 2019 layout (.csv[.gz])")
        parser.add_argument("--model-version", required=True, help="version label of the recalibrated artifacts")
        parser.add_argument(
            "--from",
            dest="base",
            default="",
            help="artifact folder of the version to recalibrate (default: the active version's)",
        )
        parser.add_argument("--out", default="", help="output folder (default scoring/artifacts/NAME/VERSION)")
        parser.add_argument(
            "--min-septic-stays",
            type=int,
            default=MIN_SEPTIC_STAYS,
            help=f"septic stays needed in each half (default {MIN_SEPTIC_STAYS})",
        )
        parser.add_argument("--register", action="store_true", help="also register the new version (shadow)")

    def handle(self, *args: Any, **options: Any) -> None:

        name, version = options["name"], options["model_version"]
        base = _base_folder(name, options["base"])
        out = Path(options["out"]) if options["out"] else ARTIFACTS_DIR / name / version
        if out.exists() and any(out.iterdir()):
            raise CommandError(f"{out} already holds artifacts: choose another --model-version or --out.")
        data = Path(options["data"])
        if not data.is_file():
            raise CommandError(f"{data} is not a file.")
        started, created = time.monotonic(), not out.exists()
        try:
            card = publish(recalibrate(base, data, out, options["min_septic_stays"]), out, version)
        except Exception as exc:
            if created:  # no half-written version is left behind
                shutil.rmtree(out, ignore_errors=True)
            if isinstance(exc, ApplicationError):
                raise CommandError(exc.message) from exc
            raise
        ext, before = (card["metrics"][k] for k in ("external_site_heldout", "original_calibration_site_heldout"))
        self.stdout.write(
            self.style.SUCCESS(
                f"{name} {version}: {out} in {time.monotonic() - started:.0f} s; sha256 {card['sha256']}"
            )
        )
        for key in ("auroc", "utility", "ece", "brier"):
            self.stdout.write(f"  site held-out {key}: {before[key]:.4f} (original) -> {ext[key]:.4f}")
        if options["register"]:
            from django.core.management import call_command

            call_command("register_model", str(out), "--status", "shadow", stdout=self.stdout)


def _base_folder(name: str, base: str) -> Path:

    if base:
        return resolve_path(base)
    mv = ModelVersion.objects.filter(name=name, status=ModelVersion.Status.ACTIVE).first()
    if mv is None:
        raise CommandError(f"no active version of {name!r}: name the one to recalibrate with --from FOLDER")
    return resolve_path(mv.artifact_path)
