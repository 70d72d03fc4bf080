"""Calibration metrics: reliability bins by hand, and ECE as their row-weighted gap."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.training import metrics as m


def test_reliability_bins_and_ece_by_hand() -> None:
    p = np.array([0.05, 0.05, 0.15, 0.95, 0.95, 0.95, 0.95, 1.0])
    y = np.array([0, 0, 1, 1, 1, 1, 0, 1])
    bins = m.reliability_bins(y, p)
    assert bins == [
        {"lower": 0.0, "upper": 0.1, "predicted": pytest.approx(0.05), "observed": 0.0, "n": 2},
        {"lower": 0.1, "upper": 0.2, "predicted": pytest.approx(0.15), "observed": 1.0, "n": 1},
        {"lower": 0.9, "upper": 1.0, "predicted": pytest.approx(0.96), "observed": 0.8, "n": 5},  # 1.0 in the top bin
    ]
    assert m.ece(y, p) == pytest.approx((2 * 0.05 + 1 * 0.85 + 5 * 0.16) / 8)


def test_perfectly_calibrated_bins_have_no_error() -> None:
    p = np.repeat([0.25, 0.75], 4)
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    assert m.ece(y, p) == pytest.approx(0.0)


def test_external_metrics_of_odd_cards() -> None:
    from scoring.card import external_metrics

    assert external_metrics({}) == (None, {})
    assert external_metrics({"metrics": None}) == (None, {})
    assert external_metrics({"metrics": {"external_x": None}}) == ("external_x", {})
    assert external_metrics({"metrics": {"internal": {"auroc": 0.9}, "external_b": {"auroc": 0.8}}}) == (
        "external_b",
        {"auroc": 0.8},
    )
