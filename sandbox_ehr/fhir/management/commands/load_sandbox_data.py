"""`manage.py load_sandbox_data`: load the sandbox EHR's synthetic patients (idempotent)."""

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from sandbox_ehr.fhir.loader import physionet
from sandbox_ehr.fhir.loader.service import (
    LoadReport,
    physionet_clear,
    physionet_load,
    sandbox_loaded_at,
    statistics_refresh,
    synthea_clear,
    synthea_load,
)

SYNTHEA_FILE = Path("synthea") / "synthea_r4_inpatient_bundles.tar.gz"
PHYSIONET_FILE = Path("physionet2019") / "physionet2019_training_set{}.csv.gz"
# The demo's download: only the stays the default load selects from set B (see datasources.catalogue).
PHYSIONET_DEMO_FILE, PHYSIONET_DEMO_STAYS = Path("physionet2019") / "physionet2019_demo_setB.csv.gz", 200


def physionet_file(data_dir: Path, which: str, count: int) -> Path:
    """The set's file; for set B without it, the demo's subset when it holds the stays asked for."""
    full = data_dir / str(PHYSIONET_FILE).format(which)
    demo = data_dir / PHYSIONET_DEMO_FILE
    if which == "B" and not full.is_file() and count <= PHYSIONET_DEMO_STAYS and demo.is_file():
        return demo
    return full


def _loaded_before(hours: float | None) -> bool:
    """Whether the oldest stored patient was loaded more than `hours` ago (False without patients or hours)."""
    if hours is None:
        return False
    loaded = sandbox_loaded_at()
    return loaded is not None and timezone.now() - loaded > timedelta(hours=hours)


class Command(BaseCommand):
    """Load the 100 Synthea R4 bundles and N PhysioNet 2019 ICU stays into the sandbox FHIR server."""

    help = (
        "Load the Synthea R4 bundles (moved in time to end an hour ago) and N PhysioNet 2019 ICU stays "
        "(half septic, ending now) into the sandbox FHIR server. Idempotent: patients already stored are "
        "skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--physionet",
            type=int,
            default=200,
            metavar="N",
            help="number of PhysioNet ICU stays to load (default 200; 0 for none)",
        )
        parser.add_argument("--set", default="B", choices=["A", "B"], help="PhysioNet training set (default B)")
        parser.add_argument("--no-synthea", action="store_true", help="skip the Synthea bundles")
        parser.add_argument(
            "--reshift",
            action="store_true",
            help="delete the loaded PhysioNet stays and Synthea patients (and what was written "
            "for those patients) and load them again, ending now",
        )
        parser.add_argument(
            "--reanchor-after",
            type=float,
            default=None,
            metavar="HOURS",
            help="do what --reshift does when the stored patients were loaded more than HOURS ago "
            "(make demo uses 1, so a demo started again later never shows stale data)",
        )
        parser.add_argument(
            "--data-dir",
            type=Path,
            default=None,
            help="data folder (default: settings.SHARED_DATA, env STRATIFY_DATA_DIR)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the load and print a one-line summary."""
        data_dir = Path(options["data_dir"] or settings.SHARED_DATA)
        synthea_path = data_dir / SYNTHEA_FILE
        physionet_path = physionet_file(data_dir, options["set"], options["physionet"])
        needed = ([] if options["no_synthea"] else [synthea_path]) + ([physionet_path] if options["physionet"] else [])
        for path in needed:
            if not path.is_file():
                raise CommandError(
                    f"{path} is missing: run `manage.py fetch_datasets --demo` (the demo's data) or "
                    "`manage.py fetch_datasets` (everything), or set STRATIFY_DATA_DIR to a folder "
                    "that holds it."
                )
        if options["physionet"] < 0:
            raise CommandError("--physionet must be 0 or more.")
        report, started, show = LoadReport(), time.monotonic(), options["verbosity"] > 0
        anchor = physionet.default_anchor()
        if options["reshift"] or _loaded_before(options["reanchor_after"]):
            removed = physionet_clear() + (0 if options["no_synthea"] else synthea_clear(synthea_path))
            self.stdout.write(f"removed {removed} resources of the loaded patients to load them again")
        if not options["no_synthea"]:
            synthea_load(synthea_path, report, anchor=anchor, progress=show)
        if options["physionet"]:
            physionet_load(physionet_path, options["physionet"], report, anchor=anchor, progress=show)
        if report.bundles_loaded or report.stays_loaded:
            statistics_refresh()
        self.stdout.write(
            f"sandbox data: {report.bundles_loaded} Synthea bundles loaded ({report.bundles_skipped} already there), "
            f"{report.stays_loaded} PhysioNet stays loaded ({report.stays_skipped} already there), "
            f"{report.resources_written} resources written in {time.monotonic() - started:.1f} s"
        )
