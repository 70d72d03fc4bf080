"""Platt calibration on the model margin: p = sigmoid(a * margin + b), fitted on held-out training patients."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression

from scoring.artifact import Platt

__all__ = ["Platt", "platt_fit"]


def platt_fit(margin: npt.NDArray[np.float64], y: npt.NDArray[np.integer]) -> Platt:
    """Fit a, b by (nearly unregularised) logistic regression of y on the margin."""
    lr = LogisticRegression(C=1e6, max_iter=1000)
    lr.fit(margin.reshape(-1, 1), y)
    return Platt(a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))
