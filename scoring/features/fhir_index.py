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


TimeMemo = dict[str, tuple[float | None, float | None]]  # time text -> (zoned seconds, seconds, zone-less as UTC)


@dataclass(frozen=True, slots=True)
class ObservationFacts:
    """What scoring reads of one Observation, read once (every model's share and index are built from these).

    `effective` is its effective[x] time when it carries a time zone (what a model's look-back windows), `at`
    the time the index files it under (effective[x], else `issued`; a time without zone read as UTC).
    `values` holds (column, value in the column's unit or None when its unit is not understood, unit as sent)
    for the Observation's value and each component's. `categories` and `codes` are every coding's code (any
    system) of its category and code.
    """

    effective: float | None
    at: float | None
    counted: bool  # its status is not one that voids it (SKIP_STATUS)
    categories: tuple[str, ...]
    codes: tuple[str, ...]
    values: tuple[tuple[str, float | None, str], ...]
    ref: str


def _concept_codes(concepts: object) -> tuple[str, ...]:
    """Every coding's code of a CodeableConcept or a list of them (malformed parts skipped); the usual single
    concept with a single coding takes the first branch."""
    if isinstance(concepts, list) and len(concepts) == 1:
        concepts = concepts[0]
    if isinstance(concepts, dict):
        coding = concepts.get("coding")
        if isinstance(coding, list) and len(coding) == 1:
            c = coding[0]
            return (code,) if isinstance(c, dict) and isinstance(code := c.get("code"), str) else ()
        concepts = (concepts,)
    elif not isinstance(concepts, list):
        return ()
    return tuple(
        code
        for concept in concepts
        if isinstance(concept, dict)
        for c in concept.get("coding") or ()
        if isinstance(c, dict) and isinstance(code := c.get("code"), str)
    )


def effective_text(obs: Mapping[str, Any]) -> object:
    """An Observation's effective[x] time as sent (dateTime, instant, or a period's start)."""
    text = obs.get("effectiveDateTime") or obs.get("effectiveInstant")
    if not text and isinstance(period := obs.get("effectivePeriod"), dict):
        text = period.get("start")
    return text


def _times(text: object, times: TimeMemo) -> tuple[float | None, float | None]:
    """(POSIX seconds when `text` carries a zone else None, POSIX seconds with a zone-less time read as UTC), each
    text parsed once per `times` (an hour's Observations share their time text)."""
    if not isinstance(text, str):
        return None, None
    found = times.get(text)
    if found is None:
        found = times[text] = _parse_both(text)
    return found


def _parse_both(text: str) -> tuple[float | None, float | None]:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None, None
    if parsed.tzinfo is None:
        return None, parsed.replace(tzinfo=UTC).timestamp()
    t = parsed.timestamp()
    return t, t


def _value(column: str | None, holder: Mapping[str, Any]) -> tuple[str, float | None, str] | None:
    """(column, converted value or None for an unknown unit, unit) of a numeric finite valueQuantity."""
    q = holder.get("valueQuantity")
    if column is None or not isinstance(q, dict):
        return None
    value = q.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    unit = q.get("code") or q.get("unit")
    return column, convert(column, float(value), unit), str(unit)


def observation_facts(obs: Mapping[str, Any], times: TimeMemo | None = None) -> ObservationFacts:
    """The facts of one Observation (see `ObservationFacts`); `times` shares time parsing across a call."""
    times = {} if times is None else times
    text = effective_text(obs)
    effective, at = _times(text, times) if text else (None, _times(obs.get("issued"), times)[1])
    code = obs.get("code")
    value = _value(_column_for(_loinc_codes(code), obs), obs)
    values: tuple[tuple[str, float | None, str], ...] = () if value is None else (value,)
    for comp in obs.get("component") or ():
        if isinstance(comp, dict) and (part := _value(_column_for(_loinc_codes(comp.get("code")), obs), comp)):
            values += (part,)
    return ObservationFacts(
        effective,
        at,
        obs.get("status") not in SKIP_STATUS,
        _concept_codes(obs.get("category")),
        _concept_codes(code),
        values,
        f"Observation/{obs.get('id', '')}",
    )


class IndexBuilder:
    """Collects Observations' values by column, then sorts them into an `ObservationIndex`."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[float, float, str]]] = {}
        self.bad_units: dict[str, set[str]] = {}

    def add(self, facts: ObservationFacts, as_of: float) -> None:
        """File the Observation's values when it counts and is dated at or before `as_of`."""
        t = facts.at
        if not facts.counted or t is None or t > as_of:
            return
        for column, value, unit in facts.values:
            if value is None:
                self.bad_units.setdefault(column, set()).add(unit)
            elif (rows := self.rows.get(column)) is None:
                self.rows[column] = [(t, value, facts.ref)]
            else:
                rows.append((t, value, facts.ref))

    def index(self) -> ObservationIndex:
        series: dict[str, Series] = {}
        for column, rows in self.rows.items():
            rows.sort(key=_FIRST)  # by time only: equal times keep their order
            series[column] = Series([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
        return ObservationIndex(series=series, unconverted_units=self.bad_units)


def index_observations(resources: Iterable[Mapping[str, Any]], as_of: float) -> ObservationIndex:
    """Usable numeric Observations with time <= as_of, by PhysioNet column, sorted by time."""
    builder = IndexBuilder()
    for res in resources:
        if res.get("resourceType") == "Observation":
            builder.add(observation_facts(res), as_of)
    return builder.index()


def latest_value(index: ObservationIndex, column: str, at: float) -> tuple[float, float, str] | None:
    """(value, time, reference) of the latest value of `column` at or before `at`, or None."""
    s = index.series.get(column)
    if s is None:
        return None
    i = bisect.bisect_right(s.times, at) - 1
    return (s.values[i], s.times[i], s.refs[i]) if i >= 0 else None
