"""Drift monitors on PhysioNet set B served against the shipped sepsis version's set-A reference profile.

Features come from the training path (`scoring.training.sepsis.prepare`: `scoring.features.hourly`, the spec the
server extracts from FHIR); scores from the shipped booster and its Platt calibration, as served. Each window
is checked with `scoring.monitoring.drift.profile_drift`, exactly what the daily monitor runs on recorded
inferences. Windows are drawn two ways: independent hourly rows ("rows", from many stays) and whole stays until
the window is full ("stays": a ward's day, rows of one stay correlated, which is what a real window holds).

Reported first: how far each vital moved between the hospitals on all rows (mean difference in set-A standard
deviations, KS distance), which says which vitals are stable there. Then, per window size and mode:
- set B (an unseen hospital): how often each feature the card names as recorded differently (HCO3, BaseExcess,
  chloride, EtCO2, troponin I, direct bilirubin; their "_last" value) is flagged, how often stable vitals are,
  the mean number of flagged columns, and the most-flagged columns;
- set A vs set A: windows of set-A patients that are NOT in the reference (train and early-stopping patients;
  the reference is the calibration patients): the false-alarm rate (flagged columns / columns checked), the
  major changes, and the share of windows that would open a finding (`attention`).

The monitors get each row's patient, as the daily monitor gets each inference's pseudonym (rows of one stay
count by their effective size); `--rows-independent` withholds them, as before the monitors read them.

Run: .venv/bin/python benchmarks/drift_set_b.py [--repeats 10] [--sizes 500,5000] [--rows-independent]
(about 2 minutes)
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
import numpy.typing as npt
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

ARTIFACT = ROOT / "scoring" / "artifacts" / "sepsis" / "1.1.2"
NAMED = ("HCO3_last", "BaseExcess_last", "Chloride_last", "EtCO2_last", "TroponinI_last", "Bilirubin_direct_last")
VITALS = ("HR_last", "O2Sat_last", "Temp_last", "SBP_last", "MAP_last", "DBP_last", "Resp_last")


def _windows(
    patients: npt.NDArray[Any], size: int, mode: str, repeats: int, rng: np.random.Generator
) -> list[npt.NDArray[np.int64]]:
    """Row indices of each window: `size` random rows, or whole random stays until `size` rows."""
    if mode == "rows":
        return [rng.choice(len(patients), size, replace=False) for _ in range(repeats)]
    by_stay = pd.Series(np.arange(len(patients))).groupby(patients).apply(np.asarray)
    out = []
    for _ in range(repeats):
        rows: list[int] = []
        for stay in rng.permutation(by_stay.index.to_numpy()):
            rows += list(by_stay[stay])
            if len(rows) >= size:
                break
        out.append(np.asarray(rows[:size]))
    return out


def _scores(x: npt.NDArray[np.float32], card: dict[str, Any]) -> npt.NDArray[np.float64]:
    import xgboost as xgb

    from scoring.artifact import Platt

    booster = xgb.Booster(model_file=str(ARTIFACT / "booster.json"))
    platt = Platt(card["calibration"]["a"], card["calibration"]["b"])
    return platt.apply_array(booster.predict(xgb.DMatrix(x), output_margin=True).astype(np.float64))


def _groups(patients: npt.NDArray[Any], args: argparse.Namespace) -> npt.NDArray[Any] | None:
    """Each row's patient, as the daily monitor reads each served inference's pseudonym."""
    return None if args.rows_independent else patients


def _shifts(a: npt.NDArray[Any], b: npt.NDArray[Any], features: list[str]) -> dict[str, list[float]]:
    """How far each vital really moved between the two hospitals, on every row: which ones are stable."""
    from scipy import stats

    out = {}
    for name in VITALS:
        i = features.index(name)
        x, y = a[:, i][np.isfinite(a[:, i])], b[:, i][np.isfinite(b[:, i])]
        out[name] = [round(float((y.mean() - x.mean()) / x.std()), 3), round(float(stats.ks_2samp(x, y).statistic), 3)]
    return out


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Flag rates over the windows of one set, size and mode."""
    counts = Counter(name for r in runs for name in r["flagged"])
    n, columns = len(runs), len(runs[0]["columns"])
    return {
        "windows": n,
        "columns": columns,
        "flag_rate": round(sum(len(r["flagged"]) for r in runs) / (n * columns), 4),
        "windows_with_a_finding": round(sum(r["attention"] for r in runs) / n, 3),
        "mean_major": round(sum(len(r["major"]) for r in runs) / n, 1),
        "most_major": [k for k, _ in Counter(m for r in runs for m in r["major"]).most_common(8)],
        "mean_flagged": round(sum(len(r["flagged"]) for r in runs) / n, 1),
        "named": {k: round(counts[k] / n, 2) for k in NAMED},
        "vitals": {k: round(counts[k] / n, 2) for k in VITALS},
        "score_flagged": round(counts["score"] / n, 2),
        "most_flagged": [k for k, _ in counts.most_common(12)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--sizes", default="500,5000")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--rows-independent", action="store_true", help="give the monitors no patient keys (each row its own patient)"
    )
    args = parser.parse_args()
    import django

    django.setup()
    from scoring.monitoring.drift import profile_drift
    from scoring.training.sepsis import prepare, set_a_masks

    card = json.loads((ARTIFACT / "card.json").read_text())
    profile, features = card["reference_profile"], list(card["features"])
    set_a = prepare("A")[0]
    outside = ~set_a_masks(set_a)["calibrate"]  # set-A patients the reference did not see
    set_b = prepare("B")[0]
    sets = {"A_vs_A": (set_a.x[outside], set_a.patients[outside]), "B": (set_b.x, set_b.patients)}
    rng = np.random.default_rng(2019)
    results: dict[str, Any] = {"reference": {"rows": profile["rows"], "from": profile["rows_from"]}}
    results["vitals_shift"] = shift = _shifts(set_a.x, set_b.x, features)
    print(f"vitals, set B against set A (mean difference in set-A SDs; KS distance): {json.dumps(shift)}", flush=True)
    for size in (int(s) for s in args.sizes.split(",")):
        for mode in ("rows", "stays"):
            for name, (x, patients) in sets.items():
                runs = [
                    profile_drift(profile, features, x[idx], _scores(x[idx], card), groups=_groups(patients[idx], args))
                    for idx in _windows(patients, size, mode, args.repeats, rng)
                ]
                results[f"{name} {size} {mode}"] = summary = _summary(runs)
                print(f"{name:7s} {size:6d} {mode:5s} {json.dumps(summary)}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
