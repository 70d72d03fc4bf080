"""Platt calibration on the model margin: p = sigmoid(a * margin + b), fitted on held-out training patients."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression


@dataclass(frozen=True, slots=True)
class Platt:
    """Calibration parameters stored with the model (ONNX metadata and model card)."""

    a: float
    b: float

    def apply(self, margin: float) -> float:
        """Calibrated probability of one margin."""
        z = self.a * margin + self.b
        return 1.0 / (1.0 + math.exp(-z)) if z >= -700 else 0.0

    def apply_array(self, margin: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Calibrated probabilities of many margins."""
        return 1.0 / (1.0 + np.exp(-(self.a * margin + self.b)))


def platt_fit(margin: npt.NDArray[np.float64], y: npt.NDArray[np.integer]) -> Platt:
    """Fit a, b by (nearly unregularised) logistic regression of y on the margin."""
    lr = LogisticRegression(C=1e6, max_iter=1000)
    lr.fit(margin.reshape(-1, 1), y)
    return Platt(a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))
