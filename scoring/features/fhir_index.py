"""Index raw FHIR Observation JSON by PhysioNet column: converted values and times, never past as-of.

Reads only the few fields it needs from parsed JSON (no fhir.resources validation on this path).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scoring.features.spec import PHYSIONET_OBSERVATIONS, UNIT_ALIASES, UNIT_CONVERSIONS

LOINC = "http://loinc.org"
SKIP_STATUS = frozenset({"entered-in-error", "cancelled", "registered"})
PULSE_OXIMETRY = "59408-5"
ARTERIAL_SATURATION = "2708-6"
CODE_TO_COLUMN: dict[str, str] = {
    code: o.column for o in PHYSIONET_OBSERVATIONS for code in (o.loinc, *o.alternates)
}
COLUMN_UNIT: dict[str, str] = {o.column: o.unit for o in PHYSIONET_OBSERVATIONS}


def parse_time(text: str | None) -> float | None:
    """FHIR dateTime/instant -> POSIX seconds (a date without zone is read as UTC); None if unusable."""
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


@dataclass(slots=True)
class Series:
    """Values of one column in time order (seconds), with the FHIR reference of each."""

    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ObservationIndex:
    """All usable observations by column, plus what was dropped and why."""

    series: dict[str, Series]
    unconverted_units: dict[str, set[str]] = field(default_factory=dict)


def convert(column: str, value: float, unit: str | None) -> float | None:
    """Convert into the column unit; None when the unit is not understood (never guessed)."""
    canonical = COLUMN_UNIT[column]
    unit = UNIT_ALIASES.get(unit, unit) if unit is not None else None
    if unit is None or unit == canonical:
        return value
    factor = UNIT_CONVERSIONS.get((column, unit))
    if factor is None:
        return None
    return value * factor[0] + factor[1]


def _effective_time(obs: Mapping[str, Any]) -> float | None:
    text = obs.get("effectiveDateTime") or obs.get("effectiveInstant")
    if text is None:
        period = obs.get("effectivePeriod")
        text = period.get("start") if isinstance(period, dict) else None
    return parse_time(text or obs.get("issued"))


def _codes(concept: Any) -> list[str]:
    if not isinstance(concept, dict):
        return []
    return [c.get("code", "") for c in concept.get("coding") or () if isinstance(c, dict)
            and c.get("system") == LOINC]


def _is_vital(obs: Mapping[str, Any]) -> bool:
    for cat in obs.get("category") or ():
        for coding in (cat.get("coding") or ()) if isinstance(cat, dict) else ():
            if isinstance(coding, dict) and coding.get("code") == "vital-signs":
                return True
    return False


def _column_for(codes: list[str], obs: Mapping[str, Any]) -> str | None:
    if PULSE_OXIMETRY in codes:
        return "O2Sat"
    for code in codes:
        column = CODE_TO_COLUMN.get(code)
        if column is not None:
            # 2708-6 is the FHIR R4 vital-signs code for SpO2 but LOINC's arterial SaO2 (see spec.py).
            if column == "SaO2" and code == ARTERIAL_SATURATION and _is_vital(obs):
                return "O2Sat"
            return column
    return None


def _quantity(holder: Mapping[str, Any]) -> tuple[float, str | None] | None:
    q = holder.get("valueQuantity")
    if not isinstance(q, dict):
        return None
    value = q.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value), q.get("code") or q.get("unit")


class _Builder:
    def __init__(self) -> None:
        self.raw: dict[str, list[tuple[float, float, str]]] = {}
        self.bad_units: dict[str, set[str]] = {}

    def add(self, column: str | None, holder: Mapping[str, Any], t: float, ref: str) -> None:
        if column is None:
            return
        q = _quantity(holder)
        if q is None:
            return
        value = convert(column, q[0], q[1])
        if value is None:
            self.bad_units.setdefault(column, set()).add(str(q[1]))
            return
        self.raw.setdefault(column, []).append((t, value, ref))


def index_observations(resources: Iterable[Mapping[str, Any]], as_of: float) -> ObservationIndex:
    """Usable numeric Observations with time <= as_of, by PhysioNet column, sorted by time."""
    builder = _Builder()
    for res in resources:
        if res.get("resourceType") != "Observation" or res.get("status") in SKIP_STATUS:
            continue
        t = _effective_time(res)
        if t is None or t > as_of:
            continue
        ref = f"Observation/{res.get('id', '')}"
        builder.add(_column_for(_codes(res.get("code")), res), res, t, ref)
        for comp in res.get("component") or ():
            if isinstance(comp, dict):
                builder.add(_column_for(_codes(comp.get("code")), res), comp, t, ref)
    series: dict[str, Series] = {}
    for column, rows in builder.raw.items():
        rows.sort(key=lambda r: r[0])
        series[column] = Series([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    return ObservationIndex(series=series, unconverted_units=builder.bad_units)
