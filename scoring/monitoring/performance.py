"""Performance of labelled served inferences: discrimination, calibration and subgroup AUROC, with intervals.

AUROC, AUPRC, ECE and the reliability bins are the card's own definitions (`scoring.training.metrics`, sklearn),
so a window reads on the card's scale. Calibration slope and intercept are the logistic recalibration of the
outcome on logit(score) (slope: y ~ a + b logit(p); intercept, "calibration-in-the-large": y ~ a + offset
logit(p); Van Calster et al., J Clin Epidemiol 2016;74:167), fitted by maximum likelihood with scipy.

Intervals are 95 % percentile bootstrap intervals over **patients** (a cluster bootstrap): the hourly scores
of one stay are correlated, so resampling rows would make them too narrow (Field CA, Welsh AH. Bootstrapping
clustered data. J R Stat Soc B 2007;69:369-390). A resample without both classes is skipped for the
discrimination metrics; an interval needs at least MIN_RESAMPLES resamples that gave the metric.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq, minimize
from scipy.special import expit, logit

from scoring.training import metrics as m

F64 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int8]
Metric = Callable[[I8, F64], float | None]
BOOTSTRAP = 200
MIN_RESAMPLES = 50
CLIP = 1e-6
BAND = re.compile(r"^age (?:<(\d+)|(\d+)-(\d+)|(\d+)\+)$")


def _negative_log_likelihood(beta: F64, x: F64, y: I8) -> tuple[float, F64]:
    eta = x @ beta
    return float(np.sum(np.logaddexp(0.0, eta) - y * eta)), x.T @ (expit(eta) - y)


def _hessian(beta: F64, x: F64, y: I8) -> F64:
    mu = expit(x @ beta)
    return np.asarray(x.T @ (x * (mu * (1 - mu))[:, None]), dtype=np.float64)


def calibration_slope(y: I8, p: F64) -> float | None:
    """b of y ~ a + b logit(p) (maximum likelihood, scipy's Newton-CG): 1 when calibrated, below 1 when scores
    are too extreme. None with one class or without convergence (separation)."""
    if len(np.unique(y)) < 2:
        return None
    lp = logit(np.clip(p, CLIP, 1 - CLIP))
    x = np.column_stack([np.ones_like(lp), lp])
    fit = minimize(
        _negative_log_likelihood, np.array([0.0, 1.0]), args=(x, y), jac=True, hess=_hessian, method="Newton-CG"
    )
    return float(fit.x[1]) if fit.success and abs(fit.x[1]) < 50 else None


def calibration_intercept(y: I8, p: F64) -> float | None:
    """a of y ~ a + offset(logit(p)), the root of sum(y - expit(a + logit p)) = 0 (scipy's brentq): 0 when
    calibrated in the large, below 0 when risk is over-stated. None with one class."""
    if len(np.unique(y)) < 2:
        return None
    lp = logit(np.clip(p, CLIP, 1 - CLIP))
    return float(brentq(lambda a: float(np.sum(y - expit(a + lp))), -30.0, 30.0))


METRICS: dict[str, Metric] = {
    "auroc": m.auroc,
    "auprc": m.auprc,
    "ece": m.ece,
    "calibration_slope": calibration_slope,
    "calibration_intercept": calibration_intercept,
}


def _resamples(clusters: npt.NDArray[Any], boots: int, seed: int) -> list[npt.NDArray[np.int64]]:
    """Row indices of each cluster-bootstrap resample."""
    codes, inverse = np.unique(clusters, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    rows = np.split(order, np.cumsum(np.bincount(inverse, minlength=len(codes)))[:-1])
    rng = np.random.default_rng(seed)
    return [np.concatenate([rows[c] for c in rng.integers(0, len(codes), len(codes))]) for _ in range(boots)]


def _interval(values: list[float]) -> list[float] | None:
    if len(values) < MIN_RESAMPLES:
        return None
    low, high = np.percentile(values, [2.5, 97.5])
    return [float(low), float(high)]


def with_intervals(
    y: I8, p: F64, resamples: list[npt.NDArray[np.int64]], metrics: dict[str, Metric]
) -> dict[str, dict[str, Any]]:
    """Each metric's value on the window and its bootstrap 95 % interval."""
    out: dict[str, dict[str, Any]] = {}
    for name, metric in metrics.items():
        values = [v for idx in resamples if (v := metric(y[idx], p[idx])) is not None]
        out[name] = {"value": metric(y, p), "ci": _interval(values)}
    return out


def metrics_with_intervals(
    y: I8, p: F64, patients: npt.NDArray[Any], *, boots: int = BOOTSTRAP, seed: int = 2019
) -> dict[str, dict[str, Any]]:
    """Every metric of METRICS with its patient-bootstrap 95 % interval. The resamples depend only on the
    patients, `boots` and `seed`: two models' scores of the same rows are resampled alike (paired)."""
    return with_intervals(y, p, _resamples(patients, boots, seed), METRICS)


def age_band(name: str) -> tuple[float, float] | None:
    """[low, high) years of a card subgroup named like "age <45", "age 45-64" or "age 80+" (None otherwise)."""
    found = BAND.match(name)
    if not found:
        return None
    below, low, high, above = found.groups()
    if below:
        return 0.0, float(below)
    if above:
        return float(above), float("inf")
    return float(low), float(high) + 1


def subgroup_masks(names: list[str], features: list[str], x: F64) -> dict[str, npt.NDArray[np.bool_]]:
    """Row masks of the card's subgroups (sex from `male`, age bands from `age_years` or `age_band_mid`)."""
    masks: dict[str, npt.NDArray[np.bool_]] = {}
    age_column = next((features.index(f) for f in ("age_years", "age_band_mid") if f in features), None)
    for name in names:
        if name in ("female", "male") and "male" in features:
            masks[name] = x[:, features.index("male")] == (1.0 if name == "male" else 0.0)
        elif (band := age_band(name)) is not None and age_column is not None:
            age = x[:, age_column]
            masks[name] = (age >= band[0]) & (age < band[1])
    return masks


def window_performance(
    y: I8,
    p: F64,
    patients: npt.NDArray[Any],
    groups: dict[str, npt.NDArray[np.bool_]],
    *,
    boots: int = BOOTSTRAP,
    seed: int = 2019,
) -> dict[str, Any]:
    """Every metric of one window with intervals, the reliability bins, and AUROC per subgroup."""
    out: dict[str, Any] = metrics_with_intervals(y, p, patients, boots=boots, seed=seed)
    out["reliability"] = m.reliability_bins(y, p)
    out["subgroups"] = {
        name: {
            **with_intervals(y[mask], p[mask], _resamples(patients[mask], boots, seed), {"auroc": m.auroc})["auroc"],
            "n": int(mask.sum()),
            "positives": int(y[mask].sum()),
        }
        for name, mask in groups.items()
        if mask.any()
    }
    return out
