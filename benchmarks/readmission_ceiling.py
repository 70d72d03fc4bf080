"""How far 30-day readmission can go on Diabetes-130: the shipped inputs against every raw column, and a leaky split.

Reproduces the README's readmission comparison. Each row trains XGBoost with the shipped hyper-parameters and early
stopping, and prints AUROC on held-out data (Platt calibration does not change a ranking, so it is left out):

- shipped: the 34 FHIR-mappable spec inputs, the shipped patient-level split (`split_by_patient`);
- all columns: every raw Diabetes-130 column (categories one-hot; ICD-9 codes seen fewer than 30 times pooled),
  the same split - a ceiling for what this table holds, most of which a FHIR server could not supply as coded;
- all columns + history: the above plus the two utilisation-history inputs of spec 2025.3;
- leaky: the shipped inputs with encounters, not patients, split at random, so one patient's stays sit on both
  sides - a check that the patient-level split is not what holds the figure down (the shipped model never
  splits this way).

Run: .venv/bin/python benchmarks/readmission_ceiling.py   (under a minute on 2 cores)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

RARE = 30  # categories seen fewer times than this are pooled into one "rare" level per column
NOT_INPUTS = ("encounter_id", "patient_nbr", "readmitted")
HISTORY = ("prior_inpatient_on_record", "readmission_within_30d")
Masks = tuple[npt.NDArray[np.bool_], dict[str, npt.NDArray[np.bool_]]]


def all_columns(frame: Any) -> npt.NDArray[np.float32]:
    """Every raw column: numbers as they are, categories (ids and ICD-9 codes included) one-hot."""
    import pandas as pd

    numeric = [
        c
        for c in frame.columns
        if c not in NOT_INPUTS and pd.api.types.is_integer_dtype(frame[c]) and not c.endswith("_id")
    ]
    categorical = [c for c in frame.columns if c not in NOT_INPUTS and c not in numeric]
    cats = frame[categorical].astype("string").fillna("missing")
    for c in categorical:
        counts = cats[c].value_counts()
        cats[c] = cats[c].where(cats[c].map(counts) >= RARE, "rare")
    onehot = pd.get_dummies(cats, dtype=np.float32)
    return np.hstack([frame[numeric].to_numpy(np.float32), onehot.to_numpy(np.float32)])


def encounter_split(n: int) -> Masks:
    """Leaky on purpose: encounters at random, the same fractions as the patient split."""
    from scoring.training.common import SEED
    from scoring.training.readmission import TEST_FRACTION

    order = np.random.default_rng(SEED).permutation(n)
    cut = [int(n * TEST_FRACTION), int(n * (TEST_FRACTION + 0.8 * 0.15)), int(n * (TEST_FRACTION + 0.8 * 0.3))]
    masks = [np.zeros(n, bool) for _ in range(3)]
    masks[0][order[: cut[0]]] = True
    masks[1][order[cut[0] : cut[1]]] = True
    masks[2][order[cut[2] :]] = True
    return masks[0], {"es": masks[1], "train": masks[2]}


def heldout_auroc(x: npt.NDArray[np.float32], y: npt.NDArray[np.int8], masks: Masks, name: str) -> tuple[float, int]:
    from scoring.training import metrics as m
    from scoring.training.common import margins, xgb_fit
    from scoring.training.readmission import PARAMS, ROUNDS

    is_test, parts = masks
    booster = xgb_fit(x[parts["train"]], y[parts["train"]], x[parts["es"]], y[parts["es"]], PARAMS, ROUNDS, name)
    auroc = m.auroc(y[is_test], margins(booster, x[is_test]))
    assert auroc is not None, "held-out rows hold both outcomes"
    return auroc, x.shape[1]


def main() -> None:
    import django

    django.setup()
    from scoring.features.spec import READMISSION_FEATURES
    from scoring.training.readmission import prepare, split_by_patient

    started = time.monotonic()
    frame, x, y, _ = prepare()
    patient = split_by_patient(frame["patient_nbr"].to_numpy(), y)[:2]
    raw = all_columns(frame)
    history = x[:, [j for j, f in enumerate(READMISSION_FEATURES) if f.name in HISTORY]]
    rows = [
        ("shipped", "spec inputs, patient split", heldout_auroc(x, y, patient, "shipped")),
        ("all-columns", "every raw column, patient split", heldout_auroc(raw, y, patient, "all columns")),
        (
            "all+history",
            "every raw column + history, patient split",
            heldout_auroc(np.hstack([raw, history]), y, patient, "all + history"),
        ),
        (
            "leaky",
            "spec inputs, encounter split (patients on both sides)",
            heldout_auroc(x, y, encounter_split(len(y)), "leaky"),
        ),
    ]
    print(f"\n{len(y)} encounters, {int(y.sum())} readmitted within 30 days")
    print(f"{'variant':12s} {'AUROC':>6s} {'inputs':>6s}  what")
    for name, what, (auroc, width) in rows:
        print(f"{name:12s} {auroc:6.3f} {width:6d}  {what}")
    print(f"({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
