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

import msgspec

from scoring.features.spec import PHYSIONET_OBSERVATIONS, UNIT_ALIASES, UNIT_CONVERSIONS

LOINC = "http://loinc.org"
_FIRST = itemgetter(0)  # a row's time
SKIP_STATUS = frozenset({"entered-in-error", "cancelled", "registered"})
# Observation.status codes (http://hl7.org/fhir/R4/valueset-observation-status.html) whose values count, and no
# status: what the usual-shape reader of `observation_facts` reads itself (any other status goes to `_facts`)
_COUNTED_STATUS = frozenset(
    {None, "registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"}
    - SKIP_STATUS
)
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
    """All usable observations by column, plus what was dropped and why.

    An index built from a model's share also carries what its readers would otherwise find by walking every
    resource of the share (thousands of samples for a monitored patient): `listed`, the Observations of each code
    the model fetches by code (`Requirements.observation_codes`, e.g. GCS; any coding's code), and `others`, the
    share's resources that are not Observations (the Patient, Encounters), each in the share's order. Both are None
    in an index that was not built from a share.
    """

    series: dict[str, Series]
    unconverted_units: dict[str, set[str]] = field(default_factory=dict)
    listed: dict[str, list[Mapping[str, Any]]] | None = None
    others: list[Mapping[str, Any]] | None = None


def convert(column: str, value: float, unit: str | None) -> float | None:
    """Convert into the column unit; None when the unit is not understood (never guessed: `_READINGS`)."""
    factor = _READINGS[column].get(unit, _NOT_UNDERSTOOD)
    if factor is _NOT_UNDERSTOOD:
        return None
    return value if factor is None else value * factor[0] + factor[1]


def _readings() -> dict[str, dict[str | None, tuple[float, float] | None]]:
    """How a value sent in a unit is read into its column's unit: column -> unit as sent -> (factor, offset), or
    None for the column's own unit (no unit, or an alias of it: the value as it is). A unit is first read through
    `UNIT_ALIASES`, then converted by `UNIT_CONVERSIONS`; every unit understood so is a key, any other is not
    understood."""
    units = {None, *UNIT_ALIASES, *UNIT_ALIASES.values(), *(unit for _, unit in UNIT_CONVERSIONS)}
    table: dict[str, dict[str | None, tuple[float, float] | None]] = {}
    for column, canonical in COLUMN_UNIT.items():
        readings = table[column] = {}
        for unit in units | {canonical}:
            meant = UNIT_ALIASES.get(unit, unit) if unit is not None else None
            if meant is None or meant == canonical:
                readings[unit] = None
            elif (factor := UNIT_CONVERSIONS.get((column, meant))) is not None:
                readings[unit] = factor
    return table


_READINGS = _readings()
_NOT_UNDERSTOOD = (math.nan, math.nan)  # marks a unit that is not in _READINGS
_INF, _NEGATIVE_INF = math.inf, -math.inf


def _reading(holder: Mapping[str, Any], column: str) -> float | str | None:
    """The numeric finite valueQuantity of `holder` (an Observation or a component) in `column`'s unit (`convert`);
    its unit as text when that unit is not understood; None when it has no such value. Read for every Observation
    of a call: a plain int or float is taken on sight, anything else checked in full (a boolean is not a number)."""
    q = holder.get("valueQuantity")
    if not isinstance(q, dict):
        return None
    value: Any = q.get("value")
    plain = type(value) is float or type(value) is int
    if not plain and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return None
    try:
        number: float = value if type(value) is float else float(value)
    except OverflowError:  # an integer past what a float holds: not a usable measurement
        return None
    if not _NEGATIVE_INF < number < _INF:  # NaN or infinite
        return None
    unit = q.get("code") or q.get("unit")
    if unit is not None and not isinstance(unit, str):
        return str(unit)
    factor = _READINGS[column].get(unit, _NOT_UNDERSTOOD)
    if factor is _NOT_UNDERSTOOD:
        return str(unit)
    return number if factor is None else number * factor[0] + factor[1]


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
        column = _loinc_column(code, obs) if isinstance(code, str) else None
        if column is not None:
            return column
    return None


def _loinc_column(code: str, obs: Mapping[str, Any]) -> str | None:
    """The column of one LOINC code of `obs`. 2708-6 is the FHIR R4 vital-signs code for SpO2 but LOINC's arterial
    SaO2 (see spec.py)."""
    if code == PULSE_OXIMETRY:
        return "O2Sat"
    column = CODE_TO_COLUMN.get(code)
    return "O2Sat" if column == "SaO2" and code == ARTERIAL_SATURATION and _is_vital(obs) else column


# The column of each LOINC code whose column does not depend on the Observation: all but 2708-6 (`_loinc_column`)
_CODE_COLUMN: dict[str, str] = {
    code: column
    for code in {*CODE_TO_COLUMN, PULSE_OXIMETRY} - {ARTERIAL_SATURATION}
    if (column := _loinc_column(code, {})) is not None
}


def _column_of(concept: object, obs: Mapping[str, Any]) -> str | None:
    """`_column_for` of a CodeableConcept's LOINC codes, with a fast path for the usual single coding."""
    if not isinstance(concept, dict):
        return None
    coding = concept.get("coding")
    if not (isinstance(coding, list) and len(coding) == 1):
        return _column_for(_codes(concept), obs)
    c = coding[0]
    if not isinstance(c, dict) or c.get("system") != LOINC:
        return None
    code = c.get("code", "")
    return _loinc_column(code, obs) if isinstance(code, str) else None


# time text -> (seconds when it carries a zone else None, seconds with a zone-less time read as UTC)
TimeMemo = dict[str, tuple[float | None, float | None]]


class ObservationFacts(msgspec.Struct, frozen=True, gc=False):
    """What scoring reads of one Observation, read once (every model's share and index are built from these).

    `effective` is its effective[x] time when it carries a time zone (what a model's look-back windows), `at`
    the time the index files it under (effective[x], else `issued`; a time without zone read as UTC).
    `points` are the index rows (column, (at, value in the column's unit, reference)) of the Observation's value
    and each component's, and `unknown_units` the (column, unit) of those whose unit is not understood; both are
    empty when the Observation does not count (a voiding status, SKIP_STATUS) or has no time. `categories` and
    `codes` are every coding's code (any system) of its category and code. Facts are shared (by a call's models,
    a trend's threads, a consumer's state copy), so they are frozen. Malformed parts are skipped, never an error.
    An empty effective[x] text counts as absent (FHIR forbids empty strings).

    A msgspec Struct: a call builds hundreds, and one is built in a third of a dataclass's time; it holds only
    numbers, text and tuples of them, so it can be in no reference cycle and the cyclic collector need not track it.
    """

    effective: float | None
    at: float | None
    categories: tuple[str, ...]
    codes: tuple[str, ...]
    points: tuple[tuple[str, tuple[float, float, str]], ...]
    unknown_units: tuple[tuple[str, str], ...]


def _concept_codes(concepts: object) -> tuple[str, ...]:
    """Every coding's code of a CodeableConcept or a list of them (malformed parts skipped); the usual single
    concept with a single coding takes the first branch."""
    if isinstance(concepts, list) and len(concepts) == 1 and isinstance(concepts[0], dict):
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


def effective_seconds(obs: Mapping[str, Any], times: TimeMemo) -> float | None:
    """An Observation's effective[x] time in POSIX seconds when it carries a zone, else None (`_times`). The usual
    effectiveDateTime text is read first (a call reads hundreds)."""
    text = obs.get("effectiveDateTime")
    if type(text) is not str or not text:
        text = effective_text(obs)
        return _times(text, times)[0] if text else None
    found = times.get(text)
    return (_times(text, times) if found is None else found)[0]


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


def _collect(
    holder: Mapping[str, Any],
    column: str | None,
    at: float,
    ref: str,
    points: list[tuple[str, tuple[float, float, str]]],
    unknown: list[tuple[str, str]],
) -> None:
    """File the numeric finite valueQuantity of `holder` (the Observation or a component) under `column`: as a
    point in the column's unit, or as an unknown unit (`_reading`)."""
    if column is None:
        return
    reading = _reading(holder, column)
    if isinstance(reading, str):
        unknown.append((column, reading))
    elif reading is not None:
        points.append((column, (at, reading, ref)))


def observation_facts(
    obs: Mapping[str, Any], times: TimeMemo | None = None, effective: float | None = None
) -> ObservationFacts:
    """The facts of one Observation (see `ObservationFacts`); `times` shares time parsing across a call, and
    `effective` is its `effective_seconds` when the caller has already read them.

    The usual vital sign or lab, shaped as EHRs and our loader write them (one category and one code, each of a
    single coding with a string code; no component; an effectiveDateTime text unless `effective` is given; a
    status that counts, or none), is read here in one pass, its parts taken by unpacking: a call reads hundreds,
    and helper calls and type checks were most of its Python work. Any other shape makes an unpacking fail (a
    KeyError, or a TypeError or ValueError for a part that is not an object or a list of one) or a check below,
    and is read by the general reader (`_facts`), which gives the same for the usual ones, for any parsed JSON
    (tests/scoring/test_observation_index.py checks both on random malformed Observations)."""
    try:
        [concept] = obs["category"]
        [c] = concept["coding"]
        kind = c["code"]
        [c] = obs["code"]["coding"]
        loinc = c["code"]
        counted = obs.get("status") in _COUNTED_STATUS  # a TypeError for a status that cannot be a set member
    except (KeyError, TypeError, ValueError):
        return _facts(obs, times, effective)
    if not counted or type(kind) is not str or type(loinc) is not str or obs.get("component"):
        return _facts(obs, times, effective)
    if effective is not None:
        at: float | None = effective
    else:
        text = obs.get("effectiveDateTime")
        if type(text) is not str or not text:
            return _facts(obs, times, effective)
        effective, at = _times(text, {} if times is None else times)
    if at is None or c.get("system") != LOINC:
        return ObservationFacts(effective, at, (kind,), (loinc,), (), ())
    column = _CODE_COLUMN.get(loinc) if loinc != ARTERIAL_SATURATION else _loinc_column(loinc, obs)
    if column is None or (reading := _reading(obs, column)) is None:
        return ObservationFacts(effective, at, (kind,), (loinc,), (), ())
    if isinstance(reading, str):
        return ObservationFacts(effective, at, (kind,), (loinc,), (), ((column, reading),))
    point = (column, (at, reading, f"Observation/{obs.get('id', '')}"))
    return ObservationFacts(effective, at, (kind,), (loinc,), (point,), ())


def _facts(obs: Mapping[str, Any], times: TimeMemo | None = None, effective: float | None = None) -> ObservationFacts:
    """`observation_facts` of any Observation, whatever its shape (malformed parts skipped, never an error)."""
    if effective is not None:
        at: float | None = effective
    else:
        times = {} if times is None else times
        text = effective_text(obs)
        effective, at = _times(text, times) if text else (None, _times(obs.get("issued"), times)[1])
    code = obs.get("code")
    points: list[tuple[str, tuple[float, float, str]]] = []
    unknown: list[tuple[str, str]] = []
    status = obs.get("status")
    if at is not None and not (isinstance(status, str) and status in SKIP_STATUS):
        ref = f"Observation/{obs.get('id', '')}"
        _collect(obs, _column_of(code, obs), at, ref, points, unknown)
        for comp in obs.get("component") or ():
            if isinstance(comp, dict):
                _collect(comp, _column_of(comp.get("code"), obs), at, ref, points, unknown)
    return ObservationFacts(
        effective,
        at,
        _concept_codes(obs.get("category")),
        _concept_codes(code),
        tuple(points),
        tuple(unknown),
    )


class IndexBuilder:
    """Collects Observations' values by column, then sorts them into an `ObservationIndex`."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[float, float, str]]] = {}
        self.bad_units: dict[str, set[str]] = {}

    def add(self, many: Iterable[ObservationFacts], as_of: float) -> None:
        """File the Observations' values, of those dated at or before `as_of`."""
        by_column = self.rows
        for facts in many:
            if facts.at is None or facts.at > as_of:
                continue
            for column, row in facts.points:
                if (rows := by_column.get(column)) is None:
                    by_column[column] = [row]
                else:
                    rows.append(row)
            for column, unit in facts.unknown_units:
                self.bad_units.setdefault(column, set()).add(unit)

    def index(
        self,
        listed: dict[str, list[Mapping[str, Any]]] | None = None,
        others: list[Mapping[str, Any]] | None = None,
    ) -> ObservationIndex:
        """The index of what was added (with a share's `listed` and `others`, see `ObservationIndex`)."""
        series: dict[str, Series] = {}
        for column, rows in self.rows.items():
            rows.sort(key=_FIRST)  # by time only: equal times keep their order
            series[column] = Series([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
        return ObservationIndex(series=series, unconverted_units=self.bad_units, listed=listed, others=others)


def index_observations(resources: Iterable[Mapping[str, Any]], as_of: float) -> ObservationIndex:
    """Usable numeric Observations with time <= as_of, by PhysioNet column, sorted by time."""
    builder, times = IndexBuilder(), TimeMemo()
    builder.add((observation_facts(r, times) for r in resources if r.get("resourceType") == "Observation"), as_of)
    return builder.index()


def latest_value(index: ObservationIndex, column: str, at: float) -> tuple[float, float, str] | None:
    """(value, time, reference) of the latest value of `column` at or before `at`, or None."""
    s = index.series.get(column)
    if s is None:
        return None
    i = bisect.bisect_right(s.times, at) - 1
    return (s.values[i], s.times[i], s.refs[i]) if i >= 0 else None
