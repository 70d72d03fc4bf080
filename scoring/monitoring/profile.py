"""Reference profiles: the distribution of each feature and of the score on the rows a version was checked on.

Written into the card JSON (`reference_profile`) at training, or added to a published folder by
`manage.py profile_model` (model.onnx and booster.json untouched). Per feature: the missing share, decile
bin edges of the present values with each bin's share (PSI's bins), 51 quantiles (the reference CDF
that the KS test and the Wasserstein distance read), mean and standard deviation. Plain numbers only,
so the monitors need neither the training data nor numpy arrays in the card.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

PSI_BINS = 10  # deciles of the reference's present values (merged where values tie)
# The midpoint of each percentile band (0.5 %, 1.5 %, ..., 99.5 %), each a value that occurs (ties kept:
# rounded lab values); together an equal-weight sample of the reference, extremes excluded.
QUANTILES = (np.arange(100) + 0.5) / 100
DIGITS = 6  # significant digits kept in the card


def _round(values: npt.NDArray[np.float64]) -> list[float]:
    return [float(f"{v:.{DIGITS}g}") for v in values]


def bin_edges(present: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Inner edges of the PSI bins: the reference deciles, each value once (ties merge bins)."""
    inner = np.quantile(present, np.linspace(0.0, 1.0, PSI_BINS + 1)[1:-1], method="inverted_cdf")
    return np.unique(np.asarray(_round(inner), dtype=np.float64))


def as_model_sees(values: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Values at the model's float32 precision, so a served 83.14 and a training 83.1399994 tie, as they do
    for the model (the card keeps DIGITS significant digits, within float32's)."""
    return np.asarray(values, dtype=np.float32).astype(np.float64)


def bin_shares(present: npt.NDArray[np.float64], edges: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Share of `present` in each bin (-inf, e1], (e1, e2], ..., (ek, inf), at the model's precision."""
    counts = np.bincount(
        np.searchsorted(as_model_sees(edges), as_model_sees(present), side="left"), minlength=len(edges) + 1
    )
    return counts / max(len(present), 1)


def reference_sample(quantiles: list[float]) -> npt.NDArray[np.float64]:
    """Values distributed as the reference (each stored quantile stands for 1 % of it)."""
    return as_model_sees(np.asarray(quantiles))


def column_profile(values: npt.NDArray[Any]) -> dict[str, Any]:
    """One column's reference: rows, missing share and, when any value is present, its bins and quantiles."""
    column = np.asarray(values, dtype=np.float64)
    present = column[np.isfinite(column)]
    profile: dict[str, Any] = {
        "n": int(len(column)),
        "missing_share": round(float(1 - len(present) / max(len(column), 1)), DIGITS),
    }
    if len(present) == 0:
        return profile
    edges = bin_edges(present)
    return {
        **profile,
        "edges": _round(edges),
        "shares": _round(bin_shares(present, edges)),
        "quantiles": _round(np.quantile(present, QUANTILES, method="inverted_cdf")),
        "mean": _round(np.array([present.mean()]))[0],
        "std": _round(np.array([present.std()]))[0],
    }


def reference_profile(
    x: npt.NDArray[Any], features: list[str], scores: npt.NDArray[Any], rows_from: str
) -> dict[str, Any]:
    """The profile of a feature matrix (columns in `features` order) and the scores the version gave it."""
    return {
        "method": f"missing share; {PSI_BINS} reference-quantile bins (PSI); {len(QUANTILES)} quantiles",
        "rows": int(len(x)),
        "rows_from": rows_from,
        "features": {name: column_profile(x[:, i]) for i, name in enumerate(features)},
        "score": column_profile(scores),
    }
