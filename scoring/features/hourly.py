"""Vectorised training path: the PhysioNet 2019 hourly table -> feature matrix, built from the same spec.

Row h of a stay is at time h hours; a row's features use rows <= h only, with exactly the semantics of
`FeatureSpec` (the golden parity test checks this against `extract.py` on FHIR built from the same rows).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from scoring.features.spec import FeatureSpec

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
CHUNK = 200_000


class _Stays:
    """Row positions and stay starts of a table sorted by (patient_id, hour)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        ids = frame["patient_id"].to_numpy()
        n = len(ids)
        new = np.ones(n, dtype=bool)
        new[1:] = ids[1:] != ids[:-1]
        self.start: I64 = np.maximum.accumulate(np.where(new, np.arange(n), 0))
        self.hour: F64 = frame["hour"].to_numpy(dtype=np.float64)
        self.n = n

    def last_index(self, values: F64) -> I64:
        """Global index of the latest non-NaN row at or before each row in the same stay, else -1."""
        idx = np.where(np.isnan(values), -1, np.arange(self.n))
        last = np.maximum.accumulate(idx)
        return np.where(last >= self.start, last, -1)

    def shifted(self, array: F64, rows: int) -> F64:
        """array[i - rows] where that row is in the same stay, else NaN."""
        out = np.full(self.n, np.nan)
        src = np.arange(self.n) - rows
        ok = src >= self.start
        out[ok] = array[src[ok]]
        return out

    def count(self, values: F64, rows: int) -> F64:
        """Number of non-NaN values in the last `rows` rows (this one included) of the same stay."""
        cum: F64 = np.concatenate([[0.0], np.cumsum(~np.isnan(values), dtype=np.float64)])
        i = np.arange(self.n)
        return cum[i + 1] - cum[np.maximum(i - rows + 1, self.start)]

    def window(self, values: F64, rows: int, how: str) -> F64:
        """min/max/mean over the last `rows` rows (this one included) of the same stay, NaN-aware."""
        out = np.empty(self.n)
        for lo in range(0, self.n, CHUNK):
            hi = min(self.n, lo + CHUNK)
            i = np.arange(lo, hi)[:, None]
            src = i - np.arange(rows)[None, :]
            ok = src >= self.start[lo:hi, None]
            block = np.where(ok, values[np.clip(src, 0, None)], np.nan)
            out[lo:hi] = _reduce(block, how)
        return out


def _reduce(block: F64, how: str) -> F64:
    if how in ("min", "max"):  # fmin/fmax skip NaN without the all-NaN warning of nanmin/nanmax
        extreme: F64 = (np.fmin if how == "min" else np.fmax).reduce(block, axis=1)  # numpy types ufunc.reduce as Any
        return extreme
    count = np.sum(~np.isnan(block), axis=1)
    total = np.nansum(block, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _last_and_age(stays: _Stays, values: F64, lookback: float) -> tuple[F64, F64]:
    last = stays.last_index(values)
    has = last >= 0
    age = np.where(has, stays.hour - stays.hour[np.clip(last, 0, None)], np.nan)
    ok = has & (age <= lookback)
    return np.where(ok, values[np.clip(last, 0, None)], np.nan), np.where(ok, age, np.nan)


def _feature(f: FeatureSpec, stays: _Stays, frame: pd.DataFrame, cache: dict[str, tuple[F64, F64]]) -> F64:
    col: F64 = frame[f.training_column].to_numpy(dtype=np.float64)
    if f.aggregation == "male":
        return col
    if f.aggregation in ("age_years", "encounter_hours"):
        return col
    if f.aggregation == "count":  # one row per hour: hours with a value = rows with a value
        return stays.count(col, int(f.window_hours or 0))
    if f.column not in cache:
        cache[f.column] = _last_and_age(stays, col, f.lookback_hours)
    last, age = cache[f.column]
    agg = f.aggregation
    if agg == "last":
        return last
    if agg == "hours_since":
        return age
    if agg == "missing":
        return np.isnan(last).astype(np.float64)
    if agg == "trend":
        return last - stays.shifted(last, int(f.window_hours or 0))
    return stays.window(col, int(f.window_hours or 0), agg)


def hourly_features(
    frame: pd.DataFrame, spec: tuple[FeatureSpec, ...], *, progress: bool = False, dtype: type[np.floating] = np.float64
) -> npt.NDArray[np.floating]:
    """Feature matrix (rows of `frame`, columns in spec order); `frame` sorted by patient_id, hour."""
    stays = _Stays(frame)
    cache: dict[str, tuple[F64, F64]] = {}
    out = np.empty((len(frame), len(spec)), dtype=dtype)
    features = spec
    if progress:
        from tqdm import tqdm

        features = tqdm(spec, desc="features", unit="feat")
    for j, f in enumerate(features):
        out[:, j] = _feature(f, stays, frame, cache)
    return out
