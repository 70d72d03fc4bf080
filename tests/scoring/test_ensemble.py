"""Seed-averaged boosters as one booster: the mean margin, exact TreeSHAP of the mean, an ONNX export that agrees."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from scoring.training.ensemble import boosters_average
from scoring.training.export import export_onnx, onnx_probabilities


def _members(rows: np.ndarray, labels: np.ndarray, seeds: range, **extra: Any) -> list[Any]:
    import xgboost as xgb

    params = {"objective": "binary:logistic", "max_depth": 3, "subsample": 0.7, "colsample_bytree": 0.6, **extra}
    data = xgb.DMatrix(rows, label=labels)
    return [xgb.train({**params, "seed": seed}, data, num_boost_round=15) for seed in seeds]


def test_the_average_is_one_booster_with_the_mean_margin_and_its_exact_drivers(
    sample_rows: np.ndarray, sample_frame: pd.DataFrame, tmp_path: Path
) -> None:
    import xgboost as xgb

    rows, labels = sample_rows.astype(np.float32), sample_frame["SepsisLabel"].to_numpy()
    members = _members(rows, labels, range(3))
    averaged = boosters_average(members)
    data = xgb.DMatrix(rows)
    margins = [m.predict(data, output_margin=True) for m in members]
    assert len({round(float(np.ptp(m)), 4) for m in margins}) == 3  # the seeds did grow different models
    assert np.allclose(averaged.predict(data, output_margin=True), np.mean(margins, axis=0), atol=1e-5)
    drivers = averaged.predict(data, pred_contribs=True)
    assert np.allclose(drivers, np.mean([m.predict(data, pred_contribs=True) for m in members], axis=0), atol=1e-5)
    assert averaged.num_boosted_rounds() == 45 and not averaged.attributes()
    export_onnx(averaged, rows.shape[1], tmp_path / "model.onnx", {"kind": "test"}, rows[:200])  # the 1e-5 gate
    probabilities = onnx_probabilities((tmp_path / "model.onnx").read_bytes(), rows[:200])
    assert np.allclose(probabilities, averaged.predict(xgb.DMatrix(rows[:200])), atol=1e-5)


def test_boosters_with_different_intercepts_are_refused(sample_rows: np.ndarray, sample_frame: pd.DataFrame) -> None:
    rows, labels = sample_rows.astype(np.float32), sample_frame["SepsisLabel"].to_numpy()
    one, other = _members(rows, labels, range(1)) + _members(rows, labels, range(1), base_score=0.3)
    assert _intercept(one) != _intercept(other)
    with pytest.raises(ValueError, match="same intercept"):
        boosters_average([one, other])


def _intercept(booster: Any) -> str:
    return str(json.loads(bytes(booster.save_raw("json")))["learner"]["learner_model_param"]["base_score"])


def test_what_the_average_would_get_wrong_is_refused(sample_rows: np.ndarray, sample_frame: pd.DataFrame) -> None:
    rows, labels = sample_rows.astype(np.float32), sample_frame["SepsisLabel"].to_numpy()
    with pytest.raises(ValueError, match="No boosters"):
        boosters_average([])
    three = _members(
        rows, (labels + np.arange(len(labels)) % 2).astype(int), range(1), objective="multi:softprob", num_class=3
    )
    with pytest.raises(ValueError, match="single-output gbtree"):
        boosters_average(three * 2)
    forest = _members(rows, labels, range(1), num_parallel_tree=2)
    with pytest.raises(ValueError, match="one tree per round"):
        boosters_average(forest * 2)
    logistic = _members(rows, labels, range(1), objective="reg:logistic")
    with pytest.raises(ValueError, match="same intercept, features and objective"):
        boosters_average([*_members(rows, labels, range(1)), *logistic])
