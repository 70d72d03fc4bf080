"""The card's reference profile at training: feature and score distributions of the version's reference rows.

The scores are the version's calibrated probabilities (booster margin, then the card's calibration), as
serving computes them; the profile format is `scoring.monitoring.profile`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from scoring.artifact import calibration_from
from scoring.monitoring.profile import reference_profile
from scoring.training.common import margins

if TYPE_CHECKING:  # xgboost itself is imported lazily, inside the functions that run it
    import xgboost as xgb


def profile_write(card: dict[str, Any], booster: xgb.Booster, rows: npt.NDArray[np.float32], rows_from: str) -> None:
    """Compute `card["reference_profile"]` from `rows` (columns in the card's feature order)."""
    scores = calibration_from(card["calibration"]).apply_array(margins(booster, rows))
    card["reference_profile"] = reference_profile(rows, list(card["features"]), scores, rows_from)
