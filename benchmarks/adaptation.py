"""Site adaptation on PhysioNet set B as the site: held-out set-B AUROC / utility / ECE against local stays used.

Set B's 20,000 stays are split by patient (stratified by outcome, `scoring.training.adapt.halves`) into an
adaptation half and a validation half. The validation half is never touched by any adaptation, threshold or
calibration: every figure below is measured on it. From the adaptation half, nested random subsets of 250, 1,000,
3,400 and 10,000 stays (stratified by outcome) adapt the shipped set-A model (sepsis 1.1.2) by each method of
`manage.py adapt_model` (`scoring.training.adapt.adapt_fit`, the command's code); the unadapted model is measured
on the same held-out stays at its own set-A threshold. Normalized utility is the PhysioNet 2019 challenge's
(`scoring.training.utility`), at each model's high threshold.

The command refuses fewer than 100 septic stays (Vergouwe et al. 2005) among the stays used unless --min-events is
lowered; the smaller sizes here are below it and are shown to trace the curve, marked "(below min)".

Run: nice -n 10 .venv/bin/python benchmarks/adaptation.py [--sizes 250,1000,3400,10000] [--methods ...]
(XGBoost on 1 thread; about 25 minutes, most of it refit, which grows 5 boosters)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

ARTIFACT = ROOT / "scoring" / "artifacts" / "sepsis" / "1.1.2"
HEADLINE = ("auroc", "auprc", "utility", "ece")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="250,1000,3400,10000")
    parser.add_argument("--methods", default="recalibrate,isotonic,continue-training,refit")
    parser.add_argument("--seed", type=int, default=2019)
    parser.add_argument("--json", default="", help="also write the figures to this file")
    return parser.parse_args()


def _row(label: str, stays: int, septic: int, metrics: dict[str, Any], seconds: float) -> dict[str, Any]:
    return {"method": label, "stays": stays, "septic": septic, **{k: metrics[k] for k in HEADLINE}, "s": seconds}


def _print(row: dict[str, Any]) -> None:
    below = " (below min)" if row["septic"] < 100 else ""
    print(
        f"{row['method']:<18} {row['stays']:>6} {row['septic']:>5}{below:<12} "
        + " ".join(f"{row[k]:.4f}" for k in HEADLINE)
        + f"  {row['s']:.0f} s",
        flush=True,
    )


def main() -> None:
    import django

    django.setup()
    from scoring.training.adapt import Base, adapt_fit, compare, halves, stays_take
    from scoring.training.adapt_site import _training
    from scoring.training.common import threads_set
    from scoring.training.data import physionet_load
    from scoring.training.sepsis import prepare_frame
    from scoring.training.site import base_load
    from scoring.training.site_physionet import physionet_digests
    from scoring.training.stays import Stays

    args = _args()
    threads_set(1)
    base = Base.of(*base_load(ARTIFACT))
    frame, _ = physionet_load("B")
    adapt_half, validate = halves(Stays(prepare_frame(frame), physionet_digests(frame)), args.seed)
    methods = args.methods.split(",")
    training = _training(base.card) if "refit" in methods else None
    held_out = validate.counts()
    print(
        f"set B: {adapt_half.counts()['stays']} adaptation stays, {held_out['stays']} "
        f"held-out stays ({held_out['septic_stays']} septic, {held_out['rows']} rows)"
    )
    print(f"{'method':<18} {'stays':>6} {'septic':>5}{'':<12} " + " ".join(f"{k:<6}" for k in HEADLINE))
    rows: list[dict[str, Any]] = []
    original = compare(base, adapt_fit("recalibrate", base, adapt_half.rows), validate.rows)["original"]
    rows.append(_row("unadapted", 0, 100, original, 0.0))  # no local stays: nothing below a minimum
    _print(rows[-1])
    for size in (int(s) for s in args.sizes.split(",")):
        used = stays_take(adapt_half, min(size, adapt_half.counts()["stays"]), args.seed)
        for method in methods:
            started = time.monotonic()
            adapted = adapt_fit(method, base, used.rows, training, args.seed)
            metrics = compare(base, adapted, validate.rows)["adapted"]
            rows.append(_row(method, size, used.counts()["septic_stays"], metrics, time.monotonic() - started))
            _print(rows[-1])
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
