"""Exact TreeSHAP (XGBoost pred_contribs on the stored booster) turned into clinician-readable drivers."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from scoring.features.spec import SHORT_LABELS, FeatureSpec
from scoring.types import Driver

TOP_DRIVERS = 5
UNIT_TEXT = {"/min": "/min", "mm[Hg]": "mmHg", "Cel": "°C", "10*3/uL": "×10³/µL", "1": "", "a": "years",
             "h": "h", "d": "days", "[pH]": "", "%": "%", "mmol/L": "mmol/L", "mg/dL": "mg/dL", "g/dL": "g/dL",
             "U/L": "U/L", "ng/mL": "ng/mL", "s": "s"}


def contributions(booster: Any, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Exact SHAP values (rows x features+1, last column the base value) in log-odds."""
    import xgboost as xgb

    return np.asarray(booster.predict(xgb.DMatrix(x), pred_contribs=True), dtype=np.float64)


def _num(value: float) -> str:
    if not math.isfinite(value) or float(value).is_integer():
        return f"{value:g}"
    digits = max(0, 2 - int(math.floor(math.log10(abs(value)))))
    return f"{value:.{min(digits, 2)}f}"


def _age_text(age: float | None) -> str:
    if age is None:
        return ""
    if age < 1:
        return ", within the last hour"
    return f", {age:.0f} h ago" if age < 48 else f", {age / 24:.0f} days ago"


def driver_text(f: FeatureSpec, value: float | None, age: float | None, direction: str) -> str:
    """E.g. 'Lactate 4.1 mmol/L, 2 h ago, raises risk'."""
    short = SHORT_LABELS.get(f.column, f.label)
    unit = UNIT_TEXT.get(f.unit, f.unit)
    tail = f", {direction} risk"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{f.label}: not available{tail}"
    if f.aggregation == "hours_since":
        return f"{short} last measured {value:.0f} h ago{tail}"
    if f.aggregation == "missing":
        state = f"not measured in the last {f.lookback_hours:.0f} h" if value >= 0.5 else "measured"
        return f"{short} {state}{tail}"
    if f.aggregation in ("male", "medication", "condition_group", "lab_measured", "lab_above", "admit_source"):
        return f"{f.label}: {'yes' if value >= 0.5 else 'no'}{tail}"
    shown = f"{value:+.2g}" if f.aggregation == "trend" else _num(value)
    text = f"{f.label} {shown}{(' ' + unit) if unit else ''}"
    return text + (_age_text(age) if f.aggregation == "last" else "") + tail


def drivers(spec: Sequence[FeatureSpec], values: Sequence[float], contribs: npt.NDArray[np.float64],
            ages: Mapping[str, float], top: int = TOP_DRIVERS) -> tuple[Driver, ...]:
    """The `top` features with the largest absolute SHAP value, largest first."""
    order = np.argsort(-np.abs(contribs[: len(spec)]))[:top]
    out = []
    for j in order:
        c = float(contribs[j])
        if c == 0.0:
            continue
        f = spec[j]
        value = None if math.isnan(values[j]) else float(values[j])
        direction = "raises" if c > 0 else "lowers"
        age = ages.get(f.name)
        out.append(Driver(feature=f.name, label=f.label, value=value, unit=f.unit, age_hours=age, contribution=c,
                          direction=direction, text=driver_text(f, value, age, direction)))
    return tuple(out)
