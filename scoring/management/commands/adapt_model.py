"""`manage.py adapt_model sepsis --data SITE --method recalibrate|isotonic|continue-training|refit`: adapt a model
to a site's own labelled stays, compare it with the original on held-out site patients, register it as shadow.

SITE is PhysioNet 2019 hourly tables (`scoring.training.site_physionet`) or a FHIR Bulk Data export folder with its
outcomes (`scoring.training.site_fhir`: Patient, Encounter, Observation NDJSON plus outcomes.csv or
Condition.ndjson), whose hourly rows the serving extractor builds. Measured on 1,000 set-B stays in both layouts
(`benchmarks/adaptation_fhir.py`): reading the FHIR site (121 MB of NDJSON, 39,049 stay-hours extracted) 15.4 s
and 485 MB peak, the table 0.6 s; continue-training held-out AUROC / utility 0.825 / 0.348 from the FHIR site,
0.821 / 0.384 from the table, equal to four decimals once the 132 hours before the tables' first rows (62 stays)
are left out of the FHIR rows (README, "A FHIR site").
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from config.errors import ApplicationError
from scoring.models import ModelVersion
from scoring.services_promotion import adaptation_log
from scoring.services_registry import model_register
from scoring.serving.registry import resolve_path
from scoring.training.adapt import METHODS
from scoring.training.adapt_site import Request, adapt_site
from scoring.training.common import SEED, threads_set
from scoring.training.publish import publish
from scoring.training.site import MIN_SEPTIC_STAYS

HEADLINE = ("auroc", "auprc", "utility", "ece")


class Command(BaseCommand):
    """Adapt, compare on held-out site patients, write the artifacts, register the version as shadow."""

    help = (
        "Adapt the sepsis model to a site's labelled ICU stays: PhysioNet 2019 layout (a CSV file, a folder of "
        "CSV files or of the challenge's .psv files) or a FHIR Bulk Data export folder (Patient.ndjson, "
        "Encounter.ndjson, Observation.ndjson, and outcomes.csv or Condition.ndjson with the sepsis Conditions; "
        "a stay is an acute-care Encounter, its rows are built by the serving extractor at each hour: about 15 s "
        "per 1,000 stays to read). The "
        "site's patients are split into adaptation and validation halves; the new version is compared with the "
        "original on the validation half, written with a card stating what local data it saw, and registered "
        "as a shadow version."
    )

    def add_arguments(self, parser: CommandParser) -> None:

        parser.add_argument("name", choices=["sepsis"])
        parser.add_argument(
            "--data", required=True, help="the site's stays (PhysioNet-layout file or folder, or FHIR export folder)"
        )
        parser.add_argument("--method", required=True, choices=METHODS)
        parser.add_argument(
            "--stays", type=int, default=None, help="adaptation stays to use, whole patients (default: all)"
        )
        parser.add_argument("--seed", type=int, default=SEED, help=f"split and subset seed (default {SEED})")
        parser.add_argument(
            "--validate-data",
            default="",
            help="the site's separate validation stays (default: half of --data, split by patient)",
        )
        parser.add_argument(
            "--min-events",
            type=int,
            default=MIN_SEPTIC_STAYS,
            help=f"septic stays needed among the stays used and in the validation half (default {MIN_SEPTIC_STAYS})",
        )
        parser.add_argument("--model-version", default="", help="version label (default BASE-METHOD-TIMESTAMP)")
        parser.add_argument("--from", dest="base", default="", help="artifact folder to adapt (default: active)")
        parser.add_argument("--out", default="", help="output folder (default LOCAL_ARTIFACTS_DIR/NAME/VERSION)")
        parser.add_argument("--threads", type=int, default=0, help="XGBoost threads (default: as training)")
        parser.add_argument("--by", default="manage.py adapt_model", help="who registers the version")
        parser.add_argument(
            "--reason", default="adapted to the site's own labelled stays", help="why (kept in the model's change log)"
        )

    def handle(self, *args: Any, **options: Any) -> None:

        if options["threads"]:
            threads_set(options["threads"])
        name = options["name"]
        base_path, base_version = _base(name, options["base"])
        version = options["model_version"] or f"{base_version}-{options['method']}-{timezone.now():%Y%m%d%H%M%S}"
        out = Path(options["out"]) if options["out"] else Path(settings.LOCAL_ARTIFACTS_DIR) / name / version
        if out.exists() and any(out.iterdir()):
            raise CommandError(f"{out} already holds artifacts: choose another --model-version or --out.")
        request = Request(
            base_folder=base_path,
            data=Path(options["data"]),
            method=options["method"],
            stays=options["stays"],
            seed=options["seed"],
            min_events=options["min_events"],
            validate_data=Path(options["validate_data"]) if options["validate_data"] else None,
        )
        started = time.monotonic()
        card = _written(request, out, version)
        self._report(card, out, time.monotonic() - started)
        try:
            mv = model_register(artifact_dir=_stored_path(out), registered_by=options["by"])
            adaptation_log(mv=mv, actor=options["by"], reason=options["reason"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(f"registered {mv.name} {mv.version} ({mv.status})"))

    def _report(self, card: dict[str, Any], out: Path, seconds: float) -> None:
        seen = card["adaptation"]
        used, validation = seen["used_for_adaptation"], seen["validation"]
        self.stdout.write(f"{card['name']} {card['version']}: {out} in {seconds:.0f} s; sha256 {card['sha256']}")
        self.stdout.write(
            f"  {seen['method']} on {used['stays']} stays ({used['septic_stays']} septic); validated on "
            f"{validation['stays']} held-out stays ({validation['septic_stays']} septic)"
        )
        metrics = card["metrics"]
        for key in HEADLINE:
            before, after = metrics["original_site_heldout"][key], metrics["external_site_heldout"][key]
            self.stdout.write(f"  site held-out {key}: {before:.4f} (original) -> {after:.4f}")


def _written(request: Request, out: Path, version: str) -> dict[str, Any]:
    """Adapt and publish; no half-written folder is left behind on error."""
    created = not out.exists()
    try:
        return publish(adapt_site(request, out), out, version)
    except Exception as exc:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        if isinstance(exc, ApplicationError):
            raise CommandError(exc.message) from exc
        raise


def _base(name: str, base: str) -> tuple[Path, str]:
    """(artifact folder, version label) of the version to adapt: --from, else the active one."""
    if base:
        folder = resolve_path(base)
        return folder, folder.name
    mv = ModelVersion.objects.filter(name=name, status=ModelVersion.Status.ACTIVE).first()
    if mv is None:
        raise CommandError(f"no active version of {name!r}: name the one to adapt with --from FOLDER")
    return resolve_path(mv.artifact_path), mv.version


def _stored_path(out: Path) -> str:
    """The folder as the registry keeps it: relative to the project root when inside it."""
    base = Path(settings.BASE_DIR).resolve()
    resolved = out.resolve()
    return str(resolved.relative_to(base)) if resolved.is_relative_to(base) else str(resolved)
