"""Site adaptation from a FHIR export against the same stays in the PhysioNet layout.

The first N stays of PhysioNet set B are written to a temporary folder twice: as a PhysioNet-layout CSV, and as a
FHIR site (Patient, Encounter, Observation NDJSON and the sepsis Conditions, `scoring.training.site_fhir_write`).
Each is read as `adapt_model` reads it (timed: for the FHIR site, reading the NDJSON and the serving extractor at
every hour of every stay), then adapted from the shipped sepsis 1.1.2 by one method through the command's pipeline
(`scoring.training.adapt_site.adapt_site`), and measured on its held-out half (the same patients in both layouts).
The folder is deleted at the end.

Run: nice -n 10 .venv/bin/python benchmarks/adaptation_fhir.py [--stays 1000] [--min-events 30]
[--method continue-training] (XGBoost on 1 thread; about a minute for 1,000 stays)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

ARTIFACT = ROOT / "scoring" / "artifacts" / "sepsis" / "1.1.2"
HEADLINE = ("auroc", "auprc", "utility", "ece")
START = datetime(2021, 3, 1, 6, 0, tzinfo=UTC)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stays", type=int, default=1000)
    parser.add_argument("--min-events", type=int, default=30)
    parser.add_argument("--method", default="continue-training")
    return parser.parse_args()


def _timed_read(path: Path) -> Any:
    from scoring.training.site import site_read

    started = time.monotonic()
    site = site_read(path)
    counts = site.stays.counts()
    print(
        f"{site.facts['layout']}: read in {time.monotonic() - started:.1f} s; {counts['stays']} stays "
        f"({counts['septic_stays']} septic), {counts['rows']} hourly rows",
        flush=True,
    )
    return site


def _adapt(path: Path, args: argparse.Namespace) -> None:
    from scoring.training.adapt_site import Request, adapt_site

    started = time.monotonic()
    with tempfile.TemporaryDirectory() as out:
        card = adapt_site(Request(ARTIFACT, path, args.method, min_events=args.min_events), Path(out))
    seen, metrics = card["adaptation"], card["metrics"]
    validation = seen["validation"]
    print(
        f"  {args.method} in {time.monotonic() - started:.0f} s (reading included); trees added "
        f"{seen.get('trees_added', 0)}; held-out {validation['stays']} stays ({validation['septic_stays']} septic, "
        f"{validation['rows']} rows)"
    )
    for which in ("original_site_heldout", "external_site_heldout"):
        label = "unadapted" if which.startswith("original") else "adapted"
        print(f"  {label:<10} " + " ".join(f"{k} {metrics[which][k]:.4f}" for k in HEADLINE), flush=True)


def main() -> None:
    import django

    django.setup()
    from scoring.training.common import threads_set
    from scoring.training.data import physionet_load
    from scoring.training.site_fhir_write import physionet_site_write

    args = _args()
    threads_set(1)
    frame, _ = physionet_load("B")
    frame = frame[frame["patient_id"].isin(frame["patient_id"].drop_duplicates().iloc[: args.stays])]
    with tempfile.TemporaryDirectory() as tmp:
        table, fhir = Path(tmp) / "site.csv", Path(tmp) / "fhir"
        frame.to_csv(table, index=False)
        started = time.monotonic()
        physionet_site_write(frame, fhir, START)
        size = sum(f.stat().st_size for f in fhir.iterdir()) / 1e6
        print(f"{args.stays} set-B stays written as NDJSON in {time.monotonic() - started:.1f} s ({size:.0f} MB)")
        for path in (table, fhir):
            _timed_read(path)
            _adapt(path, args)


if __name__ == "__main__":
    main()
