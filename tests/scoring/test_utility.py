"""The vectorised normalized utility equals a direct transcription of the challenge's per-patient loop."""

import numpy as np

from scoring.training.utility import normalized_utility

DT_EARLY, DT_OPTIMAL, DT_LATE = -12, -6, 3


def reference_patient_utility(labels: np.ndarray, predictions: np.ndarray) -> float:
    """compute_prediction_utility of evaluate_sepsis_score.py (Reyna et al. 2020), written out row by row."""
    m1, m2, m3 = 1 / (DT_OPTIMAL - DT_EARLY), -1 / (DT_LATE - DT_OPTIMAL), -2 / (DT_LATE - DT_OPTIMAL)
    b1, b2, b3 = -m1 * DT_EARLY, -m2 * DT_LATE, -m3 * DT_OPTIMAL
    septic = bool(labels.any())
    t_sepsis = int(np.argmax(labels)) - DT_OPTIMAL if septic else float("inf")
    u = np.zeros(len(labels))
    for t in range(len(labels)):
        if t <= t_sepsis + DT_LATE:
            if septic and predictions[t]:
                u[t] = max(m1 * (t - t_sepsis) + b1, -0.05) if t <= t_sepsis + DT_OPTIMAL else m2 * (t - t_sepsis) + b2
            elif not septic and predictions[t]:
                u[t] = -0.05
            elif septic and not predictions[t]:
                u[t] = 0 if t <= t_sepsis + DT_OPTIMAL else m3 * (t - t_sepsis) + b3
    return float(u.sum())


def reference_normalized(stays: list[tuple[np.ndarray, np.ndarray]]) -> float:
    observed = best = none = 0.0
    for labels, predictions in stays:
        n = len(labels)
        ideal = np.zeros(n, dtype=bool)
        if labels.any():
            t_sepsis = int(np.argmax(labels)) - DT_OPTIMAL
            ideal[max(0, t_sepsis + DT_EARLY) : min(t_sepsis + DT_LATE + 1, n)] = True
        observed += reference_patient_utility(labels, predictions)
        best += reference_patient_utility(labels, ideal)
        none += reference_patient_utility(labels, np.zeros(n, dtype=bool))
    return (observed - none) / (best - none)


def _stays(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    stays = []
    for i in range(60):
        n = int(rng.integers(8, 80))
        labels = np.zeros(n, dtype=np.int8)
        if i % 3 == 0:
            labels[int(rng.integers(0, n)) :] = 1
        stays.append((labels, rng.random(n) < 0.3))
    return stays


def _flatten(stays: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, ...]:
    groups = np.concatenate([np.full(len(lab), i) for i, (lab, _) in enumerate(stays)]).astype(np.int64)
    t = np.concatenate([np.arange(len(lab)) for lab, _ in stays]).astype(float)
    labels = np.concatenate([lab for lab, _ in stays])
    preds = np.concatenate([p for _, p in stays])
    return groups, t, labels, preds


def test_matches_reference_on_random_stays() -> None:
    for seed in range(5):
        stays = _stays(seed)
        groups, t, labels, preds = _flatten(stays)
        assert abs(normalized_utility(groups, t, labels, preds) - reference_normalized(stays)) < 1e-9


def test_bounds() -> None:
    stays = _stays(7)
    groups, t, labels, _ = _flatten(stays)
    assert normalized_utility(groups, t, labels, np.zeros_like(labels, dtype=bool)) == 0.0
    ts = {}
    for g in np.unique(groups):
        m = groups == g
        if labels[m].any():
            ts[g] = int(np.argmax(labels[m])) + 6
    ideal = np.array([g in ts and -12 <= tt - ts[g] <= 3 for g, tt in zip(groups, t, strict=True)])
    assert abs(normalized_utility(groups, t, labels, ideal) - 1.0) < 1e-12
