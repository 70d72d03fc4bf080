"""Exact TreeSHAP (XGBoost pred_contribs on the stored booster) turned into clinician-readable drivers."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from scoring.features.spec import CONTEXT_AGGREGATIONS, SHORT_LABELS, FeatureSpec
from scoring.types import Driver

if TYPE_CHECKING:  # xgboost itself is imported lazily, inside the functions that run it
    import xgboost as xgb

TOP_DRIVERS = 5
CONTEXT_DRIVERS = 3
UNIT_TEXT = {
    "/min": "/min",
    "mm[Hg]": "mmHg",
    "Cel": "°C",
    "10*3/uL": "×10³/µL",
    "1": "",
    "a": "years",
    "h": "h",
    "d": "days",
    "[pH]": "",
    "%": "%",
    "mmol/L": "mmol/L",
    "mg/dL": "mg/dL",
    "g/dL": "g/dL",
    "U/L": "U/L",
    "ng/mL": "ng/mL",
    "s": "s",
}


def contributions(booster: xgb.Booster, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Exact SHAP values (rows x features+1, last column the base value) in log-odds."""
    import xgboost as xgb

    # nthread=1: the default (all cores, OpenMP) made building a 1-row DMatrix ~15 ms on a busy machine vs ~0.1 ms.
    return np.asarray(booster.predict(xgb.DMatrix(x, nthread=1), pred_contribs=True), dtype=np.float64)


YES_NO = frozenset(
    {
        "male",
        "medication",
        "condition_group",
        "lab_measured",
        "lab_above",
        "admit_source",
        "admission_type",
        "discharge_disposition",
    }
)
WHOLE_UNITS = frozenset({"/min", "mm[Hg]", "%", "a", "d"})  # shown as integers
ONE_DECIMAL_UNITS = frozenset({"h", "Cel", "[degF]"})
NO_SPACE_UNITS = frozenset({"/min", "%"})  # "118/min", "93%"


def number_text(value: float, unit: str) -> str:
    """A value rounded for its unit: 24.4 h, 38.2 °C, 118/min, 7.31 pH, 4.1 mmol/L, 0.04 ng/mL, FiO2 0.35."""
    if not math.isfinite(value):
        return f"{value:g}"
    if unit in WHOLE_UNITS:
        text = f"{value:.0f}"
    elif unit in ONE_DECIMAL_UNITS:
        text = f"{value:.1f}"
    elif unit == "[pH]":
        text = f"{value:.2f}"
    elif unit == "1":  # fractions (FiO2 0.35) and counts (3)
        text = f"{value:g}" if float(value).is_integer() else f"{value:.2f}"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}".removesuffix(".0")
    elif abs(value) >= 1:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2g}"  # two significant digits below 1: 0.82, 0.04
    return "0" if text in ("-0", "-0.0", "-0.00") else text


def quantity_text(value: float, unit: str, *, signed: bool = False) -> str:
    """`number_text` with its unit in clinical spelling: '24.4 h', '118/min', '+12/min', '0.35'."""
    number = number_text(value, unit)
    if signed and not number.startswith("-") and number != "0":
        number = "+" + number
    return unit_spelled(number, unit)


def unit_spelled(number: str, unit: str) -> str:
    """A formatted number with its UCUM unit in clinical spelling: '38.2 °C', '118/min', '93%'."""
    shown = UNIT_TEXT.get(unit, unit)
    if not shown:
        return number
    if number == "1" and shown in ("days", "years"):  # "1 day", not "1 days"
        shown = shown[:-1]
    return f"{number}{shown}" if unit in NO_SPACE_UNITS else f"{number} {shown}"


def _age_text(age: float | None) -> str:
    if age is None:
        return ""
    if age < 1:
        return ", within the last hour"
    return f", {age:.0f} h ago" if age < 48 else f", {age / 24:.0f} days ago"


def _not_measured(f: FeatureSpec) -> str:
    hours = f.window_hours if f.aggregation in ("min", "max", "mean") else f.lookback_hours
    return f"not measured in the last {hours:.0f} h"


def driver_words(f: FeatureSpec, value: float | None, age: float | None, direction: str) -> tuple[str, str, str]:
    """(label, value_text, text) of one driver, e.g. ('Lactate', '4.1 mmol/L', 'Lactate 4.1 mmol/L, 2 h ago,
    raises risk'); a missing measurement is said as such ('FiO2', 'not measured in the last 72 h', ...)."""
    short = SHORT_LABELS.get(f.column, f.label) if f.source == "Observation" else f.label
    tail = f", {direction} risk"
    if value is None or math.isnan(value):
        if f.source != "Observation":
            return f.label, "not recorded", f"{f.label} not recorded{tail}"
        if f.aggregation == "trend":
            words = f"too few measurements for a {f.window_hours or 0:.0f} h change"
            return f.label, words, f"{f.label}: {words}{tail}"
        label = f.label if f.aggregation in ("min", "max", "mean") else short
        words = _not_measured(f)
        return label, words, f"{label} {words}{tail}"
    if f.aggregation == "hours_since":
        shown = quantity_text(value, f.unit)
        return f.label, shown, f"{short} last measured {shown} ago{tail}"
    if f.aggregation == "missing":
        words = _not_measured(f) if value >= 0.5 else _not_measured(f).removeprefix("not ")
        return short, words, f"{short} {words}{tail}"
    if f.aggregation == "count":
        words = f"measured in {value:.0f} of the last {f.window_hours or 0:.0f} h"
        return f.label, words, f"{short} {words}{tail}"
    if f.aggregation in YES_NO:
        words = "yes" if value >= 0.5 else "no"
        return f.label, words, f"{f.label}: {words}{tail}"
    if f.aggregation == "age_band":
        words = f"{value - 5:.0f}–{value + 4:.0f} years"
        return f.label, words, f"{f.label} {words}{tail}"
    shown = quantity_text(value, f.unit, signed=f.aggregation == "trend")
    text = f"{f.label} {shown}" + (_age_text(age) if f.aggregation == "last" else "")
    return f.label, shown, text + tail


def driver_text(f: FeatureSpec, value: float | None, age: float | None, direction: str) -> str:
    """E.g. 'Lactate 4.1 mmol/L, 2 h ago, raises risk'."""
    return driver_words(f, value, age, direction)[2]


def drivers(
    spec: Sequence[FeatureSpec],
    values: Sequence[float],
    contribs: npt.NDArray[np.float64],
    ages: Mapping[str, float],
    top: int = TOP_DRIVERS,
) -> tuple[Driver, ...]:
    """The `top` clinical inputs with the largest absolute SHAP value, largest first, then the `CONTEXT_DRIVERS`
    largest context inputs (charting and time: how often and how long ago something was measured, time since
    admission), marked `context` so that no surface presents a charting habit as the clinical reason."""
    if top < 0:
        raise ValueError(f"top must be 0 or more, not {top}")
    shares = contribs[: len(spec)]
    order = np.argsort(-np.abs(shares))
    clinical: list[int] = []
    context: list[int] = []
    for j in order[shares[order] != 0.0].tolist():  # largest first; stop once both lists are full
        if spec[j].aggregation in CONTEXT_AGGREGATIONS:
            if len(context) < CONTEXT_DRIVERS:
                context.append(j)
        elif len(clinical) < top:
            clinical.append(j)
        if len(clinical) == top and len(context) == CONTEXT_DRIVERS:
            break
    return tuple(_driver(spec[j], values[j], float(contribs[j]), ages) for j in (*clinical, *context))


def _driver(f: FeatureSpec, raw: float, c: float, ages: Mapping[str, float]) -> Driver:
    value = None if math.isnan(raw) else float(raw)
    direction: Literal["raises", "lowers"] = "raises" if c > 0 else "lowers"
    age = ages.get(f.name)
    label, value_text, text = driver_words(f, value, age, direction)
    return Driver(
        feature=f.name,
        label=label,
        value=value,
        unit=f.unit,
        age_hours=age,
        contribution=c,
        direction=direction,
        text=text,
        value_text=value_text,
        context=f.aggregation in CONTEXT_AGGREGATIONS,
    )
