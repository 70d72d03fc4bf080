"""Index raw FHIR Observation JSON by PhysioNet column: converted values and times, never past as-of.

Reads only the few fields it needs from parsed JSON (no fhir.resources validation on this path).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from scoring.features.spec import PHYSIONET_OBSERVATIONS, UNIT_ALIASES, UNIT_CONVERSIONS

LOINC = "http://loinc.org"
_FIRST = itemgetter(0)  # a row's time
SKIP_STATUS = frozenset({"entered-in-error", "cancelled", "registered"})
PULSE_OXIMETRY = "59408-5"
ARTERIAL_SATURATION = "2708-6"
CODE_TO_COLUMN: dict[str, str] = {code: o.column for o in PHYSIONET_OBSERVATIONS for code in (o.loinc, *o.alternates)}
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


def _codes(concept: object) -> list[str]:
    if not isinstance(concept, dict):
        return []
    return [c.get("code", "") for c in concept.get("coding") or () if isinstance(c, dict) and c.get("system") == LOINC]


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


def _loinc_codes(concept: object) -> list[str]:
    """`_codes`, with a fast path for the usual single LOINC coding."""
    if not isinstance(concept, dict):
        return []
    coding = concept.get("coding")
    if isinstance(coding, list) and len(coding) == 1:
        c = coding[0]
        return [c.get("code", "")] if isinstance(c, dict) and c.get("system") == LOINC else []
    return _codes(concept)


def index_observations(resources: Iterable[Mapping[str, Any]], as_of: float) -> ObservationIndex:
    """Usable numeric Observations with time <= as_of, by PhysioNet column, sorted by time.

    One pass over the resources with the per-value helpers inlined (this runs on every CDS call, ~500
    Observations); time strings repeat across an hour's Observations, so each is parsed once per call.
    """
    raw: dict[str, list[tuple[float, float, str]]] = {}
    bad_units: dict[str, set[str]] = {}
    parsed: dict[str, float | None] = {}

    def add(column: str | None, holder: Mapping[str, Any], t: float, ref: str) -> None:
        if column is None:
            return
        q = holder.get("valueQuantity")
        if not isinstance(q, dict):
            return
        value = q.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return
        unit = q.get("code") or q.get("unit")
        converted = convert(column, float(value), unit)
        if converted is None:
            bad_units.setdefault(column, set()).add(str(unit))
            return
        rows = raw.get(column)
        if rows is None:
            raw[column] = [(t, converted, ref)]
        else:
            rows.append((t, converted, ref))

    for res in resources:
        if res.get("resourceType") != "Observation" or res.get("status") in SKIP_STATUS:
            continue
        text = res.get("effectiveDateTime") or res.get("effectiveInstant")
        if text is None:
            period = res.get("effectivePeriod")
            text = period.get("start") if isinstance(period, dict) else None
        text = text or res.get("issued")
        if isinstance(text, str):
            if text in parsed:
                t = parsed[text]
            else:
                t = parsed[text] = parse_time(text)
        else:
            t = parse_time(text)
        if t is None or t > as_of:
            continue
        ref = f"Observation/{res.get('id', '')}"
        add(_column_for(_loinc_codes(res.get("code")), res), res, t, ref)
        for comp in res.get("component") or ():
            if isinstance(comp, dict):
                add(_column_for(_loinc_codes(comp.get("code")), res), comp, t, ref)
    series: dict[str, Series] = {}
    for column, rows in raw.items():
        rows.sort(key=_FIRST)  # by time only: equal times keep their order
        series[column] = Series([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    return ObservationIndex(series=series, unconverted_units=bad_units)


def latest_value(index: ObservationIndex, column: str, at: float) -> tuple[float, float, str] | None:
    """(value, time, reference) of the latest value of `column` at or before `at`, or None."""
    s = index.series.get(column)
    if s is None:
        return None
    i = bisect.bisect_right(s.times, at) - 1
    return (s.values[i], s.times[i], s.refs[i]) if i >= 0 else None
