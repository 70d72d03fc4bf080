"""Scoring benchmark: one patient with 500 Observations (extract + ONNX predict + exact TreeSHAP + drivers)
p50/p99, and batch stratification throughput (patients/minute) with exact SHAP.

Run: .venv/bin/python benchmarks/scoring.py [--iterations 500] [--batch 20000]
Uses the shipped sepsis artifact (scoring/artifacts/sepsis/<latest>) and the real 20-patient PhysioNet sample.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported for real after django.setup()
    import pandas as pd

    from scoring.serving.registry import LoadedModel

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")


def _setup() -> tuple[LoadedModel, list[dict], datetime, pd.DataFrame]:
    import django

    django.setup()
    import pandas as pd
    from django.conf import settings

    from scoring.features.physionet_fhir import row_time, stay_to_fhir
    from scoring.serving.registry import load

    folder = sorted((ROOT / "scoring" / "artifacts" / "sepsis").iterdir())[-1]
    card = json.loads((folder / "card.json").read_text())
    model = load("sepsis", card["version"], str(folder), card["sha256"])
    frame = pd.read_csv(Path(str(settings.SHARED_DATA)) / "physionet2019/physionet2019_sample_20patients.csv")
    pid = frame.groupby("patient_id").size().idxmax()
    stay = frame[frame["patient_id"] == pid].reset_index(drop=True)
    start = datetime(2021, 3, 1, tzinfo=UTC)
    resources = stay_to_fhir(str(pid), stay.to_dict("records"), start)
    obs = [r for r in resources if r["resourceType"] == "Observation"][-500:]
    resources = [r for r in resources if r["resourceType"] != "Observation"] + obs
    as_of = row_time(start, len(stay) - 1)
    return model, resources, as_of, frame


def _percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def single_patient(model: LoadedModel, resources: list[dict], as_of: datetime, iterations: int) -> None:
    import numpy as np

    from scoring.features.extract import extract_features
    from scoring.serving.explain import contributions, drivers

    stages: dict[str, list[float]] = {"extract": [], "predict": [], "explain": [], "total": []}
    for i in range(iterations + 50):
        t0 = time.perf_counter()
        ex = extract_features(model.features, resources, as_of)
        t1 = time.perf_counter()
        x = np.asarray([ex.values], dtype=np.float32)
        p = model.calibration.apply(float(model.margin(x)[0]))
        t2 = time.perf_counter()
        drivers(model.features, ex.values, contributions(model.booster, x)[0], ex.ages)
        t3 = time.perf_counter()
        if i >= 50:
            for key, value in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t3 - t0), strict=True):
                value_ms = value * 1000
                stages[key].append(value_ms)
    print(
        f"one patient, {sum(r['resourceType'] == 'Observation' for r in resources)} Observations, "
        f"{iterations} runs, provider {model.provider}, probability {p:.4f}"
    )
    for key, values in stages.items():
        print(f"  {key:8s} p50 {statistics.median(values):7.3f} ms   p99 {_percentile(values, 0.99):7.3f} ms")


def batch(model: LoadedModel, frame: pd.DataFrame, size: int, threads: int) -> None:
    import numpy as np
    import xgboost as xgb

    from scoring.features.hourly import hourly_features

    x = hourly_features(frame, model.features, dtype=np.float32)
    x = np.tile(x, (size // len(x) + 1, 1))[:size]
    model.booster.set_param({"nthread": threads})
    t0 = time.perf_counter()
    margins = model.margin(x)
    model.calibration.apply_array(margins)
    t1 = time.perf_counter()
    contribs = model.booster.predict(xgb.DMatrix(x, nthread=threads), pred_contribs=True)
    t2 = time.perf_counter()
    model.booster.set_param({"nthread": 1})
    per_min = size / (t2 - t0) * 60
    print(
        f"batch of {size} patients, {threads} threads: ONNX predict {t1 - t0:.2f} s, exact SHAP {t2 - t1:.2f} s "
        f"-> {per_min:,.0f} patients/min with exact SHAP ({contribs.shape[1] - 1} features, "
        f"{model.booster.num_boosted_rounds()} trees)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--batch", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    model, resources, as_of, frame = _setup()
    gc.collect()
    gc.freeze()
    single_patient(model, resources, as_of, args.iterations)
    batch(model, frame, args.batch, args.threads)


if __name__ == "__main__":
    main()
