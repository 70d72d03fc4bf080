"""Shared training helpers: patient-level splits, XGBoost fitting with a progress bar, artifact writing."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # xgboost itself is imported lazily, inside the functions that run it
    import xgboost as xgb

SEED = 2019
NTHREAD = 2  # training and prediction threads; `threads_set` lowers it (benchmarks on a shared machine)


@dataclass(frozen=True, slots=True)
class Split:
    """Patient ids of each part."""

    train: frozenset[Any]
    early_stop: frozenset[Any]
    calibrate: frozenset[Any]


def patient_split(
    patients: npt.NDArray[Any], positive: npt.NDArray[np.bool_], fractions: tuple[float, float] = (0.15, 0.15)
) -> Split:
    """Stratified (by patient outcome) random split of patients into train / early-stop / calibration."""
    rng = np.random.default_rng(SEED)
    parts: list[list[Any]] = [[], [], []]
    for group in (patients[positive], patients[~positive]):
        group = rng.permutation(group)
        n_es, n_cal = (int(round(len(group) * f)) for f in fractions)
        parts[1] += list(group[:n_es])
        parts[2] += list(group[n_es : n_es + n_cal])
        parts[0] += list(group[n_es + n_cal :])
    return Split(frozenset(parts[0]), frozenset(parts[1]), frozenset(parts[2]))


def xgb_fit(
    x_train: npt.NDArray[np.float32],
    y_train: npt.NDArray[Any],
    x_es: npt.NDArray[np.float32],
    y_es: npt.NDArray[Any],
    params: Mapping[str, Any],
    rounds: int,
    desc: str,
) -> xgb.Booster:
    """Train a binary XGBoost booster (hist, 2 threads) with early stopping and a tqdm bar."""
    import xgboost as xgb
    from tqdm import tqdm

    class Bar(xgb.callback.TrainingCallback):
        def __init__(self) -> None:
            self.bar = tqdm(total=rounds, desc=desc, unit="tree")

        def after_iteration(
            self, model: xgb.Booster, epoch: int, evals_log: xgb.callback.TrainingCallback.EvalsLog
        ) -> bool:
            self.bar.update(1)
            return False

        def after_training(self, model: xgb.Booster) -> xgb.Booster:
            self.bar.close()
            return model

    dtrain = xgb.DMatrix(x_train, label=y_train, nthread=NTHREAD)
    des = xgb.DMatrix(x_es, label=y_es, nthread=NTHREAD)
    full = {
        "objective": "binary:logistic",
        "tree_method": "hist",
        "nthread": NTHREAD,
        "seed": SEED,
        "eval_metric": "logloss",
        **params,
    }
    booster = xgb.train(
        full,
        dtrain,
        num_boost_round=rounds,
        evals=[(des, "early_stop")],
        early_stopping_rounds=50,
        verbose_eval=False,
        callbacks=[Bar()],
    )
    # Keep exactly the best trees, so ONNX, the booster JSON and SHAP all describe the same model.
    return booster[: booster.best_iteration + 1]


def threads_set(n: int) -> None:
    """Use `n` threads for the XGBoost training and prediction of this process."""
    global NTHREAD
    NTHREAD = max(1, n)


def margins(booster: xgb.Booster, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Raw log-odds of rows `x`."""
    import xgboost as xgb

    booster.set_param({"nthread": NTHREAD})
    return np.asarray(booster.predict(xgb.DMatrix(x, nthread=NTHREAD), output_margin=True), dtype=np.float64)


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Pretty, stable JSON."""
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=_default) + "\n")


def _default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value)}")


def now_iso() -> str:
    """UTC now, seconds precision."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()
