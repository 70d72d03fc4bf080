"""The PhysioNet/CinC 2019 normalized utility score, from its published definition.

Reyna MA, et al. Early Prediction of Sepsis From Clinical Data: The PhysioNet/Computing in Cardiology
Challenge 2019. Crit Care Med 2020;48(2):210-217, "Scoring" and Figure 2; parameters as in the
challenge's evaluate_sepsis_score.py: dt_early -12 h, dt_optimal -6 h, dt_late +3 h relative to
t_sepsis; U_TP max 1, U_FN min -2, U_FP -0.05, U_TN 0. t_sepsis = first labelled hour + 6 (labels
start 6 h before onset). The normalized score is (U - U_no_alarm) / (U_best - U_no_alarm) summed over
all patients, where U_best raises alarms exactly from t_sepsis-12 to t_sepsis+3.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

DT_EARLY, DT_OPTIMAL, DT_LATE = -12.0, -6.0, 3.0
MAX_U_TP, MIN_U_FN, U_FP, U_TN = 1.0, -2.0, -0.05, 0.0
M1 = MAX_U_TP / (DT_OPTIMAL - DT_EARLY)
B1 = -M1 * DT_EARLY
M2 = -MAX_U_TP / (DT_LATE - DT_OPTIMAL)
B2 = -M2 * DT_LATE
M3 = MIN_U_FN / (DT_LATE - DT_OPTIMAL)
B3 = -M3 * DT_OPTIMAL


def _sepsis_times(
    groups: npt.NDArray[np.int64], t: npt.NDArray[np.float64], labels: npt.NDArray[np.int8]
) -> npt.NDArray[np.float64]:
    """Per row: t_sepsis of its patient (inf for non-septic patients)."""
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    first = np.full(n_groups, np.inf)
    pos = labels.astype(bool)
    np.minimum.at(first, groups[pos], t[pos])
    return first[groups] - DT_OPTIMAL


def row_utility(
    groups: npt.NDArray[np.int64],
    t: npt.NDArray[np.float64],
    labels: npt.NDArray[np.int8],
    predictions: npt.NDArray[np.bool_],
) -> npt.NDArray[np.float64]:
    """Utility of every row (t = hour index within the stay), as in compute_prediction_utility."""
    ts = _sepsis_times(groups, t, labels)
    septic = np.isfinite(ts)
    d = t - np.where(septic, ts, 0.0)
    in_play = ~septic | (d <= DT_LATE)
    early = d <= DT_OPTIMAL
    tp = np.where(early, np.maximum(M1 * d + B1, U_FP), M2 * d + B2)
    fn = np.where(early, 0.0, M3 * d + B3)
    u = np.where(septic, np.where(predictions, tp, fn), np.where(predictions, U_FP, U_TN))
    return np.where(in_play, u, 0.0)


def normalized_utility(
    groups: npt.NDArray[np.int64],
    t: npt.NDArray[np.float64],
    labels: npt.NDArray[np.int8],
    predictions: npt.NDArray[np.bool_],
) -> float:
    """Normalized utility over all patients: 1 = best possible alarms, 0 = never alarming."""
    ts = _sepsis_times(groups, t, labels)
    d = t - np.where(np.isfinite(ts), ts, 0.0)
    best = np.isfinite(ts) & (d >= DT_EARLY) & (d <= DT_LATE)
    observed = row_utility(groups, t, labels, predictions).sum()
    best_u = row_utility(groups, t, labels, best).sum()
    none_u = row_utility(groups, t, labels, np.zeros_like(predictions, dtype=bool)).sum()
    return float((observed - none_u) / (best_u - none_u))
