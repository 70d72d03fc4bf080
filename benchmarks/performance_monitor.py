"""Performance monitors on real windows: how often a calibrated window is flagged, and what set B shows.

The shipped sepsis version's scores (booster + Platt, as served) of PhysioNet stays, labelled by the data
set's own outcomes with the monitors' rule (`scoring.monitoring.labels`: onset = first labelled hour + 6 h),
each window judged by `scoring.monitoring.evaluation.breaches_of` at the default thresholds (the card's
values; slope 1, intercept 0; 95 % patient-bootstrap intervals):
- set A calibration patients (the rows its Platt scaling was fitted on: calibrated by construction): the share
  of windows with any breach is the false-alarm rate;
- set B (the unseen hospital the card says it over-states risk at above 0.1): the share of windows flagged.

Windows are judged from --min-events patients with the outcome (the policy's default is 100, more septic
patients than most windows of set A hold). Run (about 4 minutes):
.venv/bin/python benchmarks/performance_monitor.py [--windows 10] [--patients 800] [--boots 100] [--min-events 20]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
ARTIFACT = ROOT / "scoring" / "artifacts" / "sepsis" / "1.1.2"
EVERY = 2  # hours between served scores


def _labels(frame: pd.DataFrame) -> np.ndarray:
    """The monitors' label of each row: 1 within 6 h before onset to 6 h after, 0 when followed 6 h on without it."""
    first = frame[frame["SepsisLabel"] == 1].groupby("patient_id")["hour"].min()
    onset = frame["patient_id"].map(first + 6)
    last = frame.groupby("patient_id")["hour"].transform("max")
    hour = frame["hour"]
    positive = onset.notna() & (hour >= onset - 6) & (hour <= onset + 6)
    excluded = onset.notna() & (hour > onset + 6)
    negative = ~positive & ~excluded & (onset.notna() | (last >= hour + 6))
    return np.where(positive, 1, np.where(negative, 0, -1))


def _scored(frame: pd.DataFrame, card: dict[str, Any]) -> pd.DataFrame:
    import xgboost as xgb

    from scoring.artifact import Platt
    from scoring.features.hourly import hourly_features
    from scoring.features.spec import SEPSIS_FEATURES

    frame = frame.sort_values(["patient_id", "hour"]).reset_index(drop=True)
    x = hourly_features(frame, SEPSIS_FEATURES, dtype=np.float64)
    booster = xgb.Booster(model_file=str(ARTIFACT / "booster.json"))
    platt = Platt(card["calibration"]["a"], card["calibration"]["b"])
    frame["score"] = platt.apply_array(booster.predict(xgb.DMatrix(x), output_margin=True).astype(np.float64))
    frame["label"] = _labels(frame)
    features = list(card["features"])
    frame["male"], frame["age"] = x[:, features.index("male")], x[:, features.index("age_years")]
    return frame[(frame["hour"] % EVERY == 0) & (frame["label"] >= 0)]


def _window(rows: pd.DataFrame, card: dict[str, Any], bounds: dict[str, Any], boots: int) -> list[str] | None:
    """The monitors the window crosses, as the daily run judges it (None: too few patients with the outcome)."""
    from scoring.monitoring.evaluation import breaches_of, patients_with
    from scoring.monitoring.performance import subgroup_masks, window_performance

    y, patients = rows["label"].to_numpy().astype(np.int8), rows["patient_id"].to_numpy()
    if min(patients_with(y, patients)) < bounds["min_events"]:
        return None
    names = list(card["metrics"]["external_set_b"]["subgroups"])
    masks = subgroup_masks(names, ["male", "age_years"], np.column_stack([rows["male"], rows["age"]]))
    results = window_performance(y, rows["score"].to_numpy(), patients, masks, boots=boots)
    for name, metric in results["subgroups"].items():
        metric["judged"] = min(patients_with(y[masks[name]], patients[masks[name]])) >= bounds["min_events"]
    return [b["monitor"] for b in breaches_of(results, bounds)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=10)
    parser.add_argument("--patients", type=int, default=800)
    parser.add_argument("--boots", type=int, default=100)
    parser.add_argument("--min-events", type=int, default=20, help="patients with the outcome to judge (default 20)")
    args = parser.parse_args()
    import django

    django.setup()
    from django.conf import settings

    from scoring.models import MonitorPolicy
    from scoring.monitoring.policy import performance_bounds
    from scoring.training.common import patient_split

    card = json.loads((ARTIFACT / "card.json").read_text())
    bounds = performance_bounds(MonitorPolicy(model_name="sepsis", min_events=args.min_events), card)
    data = Path(str(settings.SHARED_DATA)) / "physionet2019"
    set_a = pd.read_csv(data / "physionet2019_training_setA.csv.gz")
    septic = set_a.groupby("patient_id")["SepsisLabel"].max()
    calibrate = patient_split(septic.index.to_numpy(), septic.to_numpy().astype(bool)).calibrate
    sets = {
        "A calibration": _scored(set_a[set_a["patient_id"].isin(calibrate)], card),
        "B": _scored(pd.read_csv(data / "physionet2019_training_setB.csv.gz"), card),
    }
    rng = np.random.default_rng(2019)
    for name, rows in sets.items():
        patients = rows["patient_id"].unique()
        found = [
            _window(
                rows[rows["patient_id"].isin(rng.choice(patients, args.patients, replace=False))],
                card,
                bounds,
                args.boots,
            )
            for _ in range(args.windows)
        ]
        judged = [f for f in found if f is not None]
        counts = Counter(m for f in judged for m in set(f))
        flagged = sum(bool(f) for f in judged) / max(len(judged), 1)
        print(
            f"{name}: {len(judged)} of {len(found)} windows of {args.patients} patients judged; flagged {flagged:.2f}"
        )
        print(f"  by monitor: {dict(counts)}")


if __name__ == "__main__":
    main()
