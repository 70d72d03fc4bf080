"""Pure extraction: raw FHIR JSON + as-of time -> feature vector in spec order, input ages, what is missing.

Never reads an input dated after as-of. Missing inputs stay NaN (the model was trained with NaN as
"not measured"); required inputs that are missing or stale are reported so the caller refuses to score.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scoring.features.fhir_index import ObservationIndex, Series, index_observations, parse_time
from scoring.features.spec import FeatureSpec

NAN = math.nan
HOUR = 3600.0
ACUTE_CLASSES = frozenset({"IMP", "ACUTE", "ICU", "EMER", "OBSENC", "NONAC"})
VOID_ENCOUNTER = frozenset({"entered-in-error", "cancelled"})
SMALL_COUNT = 48  # up to this many values in a count's window, a set of their hours is cheaper than bisections


@dataclass(frozen=True, slots=True)
class Extraction:
    """A feature vector and its provenance."""

    names: tuple[str, ...]
    values: tuple[float, ...]  # NaN = not available
    ages: Mapping[str, float]  # feature -> hours between its input and as-of (time-series features)
    data_times: Mapping[str, datetime]  # feature -> time of the input used
    missing: tuple[str, ...]  # labels of required inputs that are absent
    stale: tuple[str, ...]  # labels of required inputs older than their freshness limit
    basis: tuple[str, ...]  # FHIR references of the inputs used
    notes: tuple[str, ...] = field(default=())
    not_applicable: str = ""  # why the model does not apply to this patient or encounter at all ("" = it does)


def _last(s: Series | None, at: float, lookback_h: float) -> int | None:
    """Index of the latest value at or before `at` within the look-back, or None."""
    if s is None:
        return None
    i = bisect.bisect_right(s.times, at) - 1
    if i < 0 or (at - s.times[i]) / HOUR > lookback_h:
        return None
    return i


def _window(s: Series | None, at: float, window_h: float) -> list[float]:
    if s is None:
        return []
    hi = bisect.bisect_right(s.times, at)
    lo = bisect.bisect_right(s.times, at - window_h * HOUR)
    return s.values[lo:hi]


def _series_value(f: FeatureSpec, s: Series | None, at: float) -> tuple[float, int | None]:
    """(feature value, index of the latest input used) for time-series aggregations."""
    i = _last(s, at, f.lookback_hours)
    agg = f.aggregation
    if agg == "last":
        return (s.values[i] if s is not None and i is not None else NAN), i
    if agg == "hours_since":
        return ((at - s.times[i]) / HOUR if s is not None and i is not None else NAN), i
    if agg == "missing":
        return (0.0 if i is not None else 1.0), i
    if agg == "count":  # hours (bins back from as-of) with at least one value in the window; none = 0
        if s is None:
            return 0.0, None
        hi = bisect.bisect_right(s.times, at)
        lo = bisect.bisect_right(s.times, at - (f.window_hours or 0.0) * HOUR)
        hours = _hours(s.times, lo, hi, at)
        return float(hours), (hi - 1 if hours else None)
    if agg == "trend":
        j = _last(s, at - (f.window_hours or 0.0) * HOUR, f.lookback_hours)
        if s is None or i is None or j is None:
            return NAN, i
        return s.values[i] - s.values[j], i
    vals = _window(s, at, f.window_hours or 0.0)
    if not vals:
        return NAN, None
    value = min(vals) if agg == "min" else max(vals) if agg == "max" else math.fsum(vals) / len(vals)
    return value, i


def _hours(times: list[float], lo: int, hi: int, at: float) -> int:
    """How many distinct whole hours back from `at` (floor((at - t) / HOUR)) the sorted `times[lo:hi]` fall in:
    one bisection per hour, not a look at every value (a monitored patient has thousands a day). The hour never
    grows with t (IEEE subtraction, division and floor are monotonic), so each hour's values are one run. A few
    values (an hourly chart) are simply counted."""
    if hi - lo <= SMALL_COUNT:
        return len({math.floor((at - t) / HOUR) for t in times[lo:hi]})
    count, j = 0, hi
    while j > lo:
        hour = -math.floor((at - times[j - 1]) / HOUR)
        j = bisect.bisect_left(times, hour, lo, j, key=lambda t: -math.floor((at - t) / HOUR))
        count += 1
    return count


def _first(resources: Iterable[Mapping[str, Any]], kind: str) -> Mapping[str, Any] | None:
    return next((r for r in resources if r.get("resourceType") == kind), None)


def acute_care(encounter: Mapping[str, Any]) -> bool:
    """Whether an Encounter is of an acute-care class (its class Coding's code in ACUTE_CLASSES; a class that is
    not a single Coding, as in FHIR R5, is not held against it)."""
    klass = encounter.get("class") or {}
    return not isinstance(klass, dict) or klass.get("code") in ACUTE_CLASSES


def current_encounter(
    resources: Sequence[Mapping[str, Any]], at: float, encounter_id: str | None = None
) -> Mapping[str, Any] | None:
    """The Encounter named by the EHR (`encounter_id`, e.g. a hook's context.encounterId) if it is among
    `resources`, else None; without a name, the latest acute-care Encounter that started at or before `at`."""
    best: tuple[float, Mapping[str, Any]] | None = None
    for r in resources:
        if r.get("resourceType") != "Encounter" or r.get("status") in VOID_ENCOUNTER:
            continue
        if encounter_id is not None:
            if r.get("id") == encounter_id:
                return r
            continue
        if not acute_care(r):
            continue
        start = parse_time((r.get("period") or {}).get("start"))
        if start is not None and start <= at and (best is None or start > best[0]):
            best = (start, r)
    return best[1] if best else None


def deceased_reason(resources: Sequence[Mapping[str, Any]], at: float) -> str | None:
    """Why a patient who had died by `at` is not scored (Patient.deceased[x]); None for the living.

    Every score here predicts a future event (sepsis, deterioration, readmission) for a living patient. A
    death recorded without a date (deceasedBoolean) counts at any as-of; one dated after `at` does not.
    """
    patient = _first(resources, "Patient") or {}
    when = patient.get("deceasedDateTime")
    died = parse_time(when) if isinstance(when, str) else None
    if died is not None and died <= at:
        return f"Patient deceased {str(when)[:10]}: risk scores are only for living patients."
    if died is None and patient.get("deceasedBoolean") is True:
        return "Patient recorded as deceased: risk scores are only for living patients."
    return None


def encounter_missing(encounter_id: str | None) -> str:
    """The "missing" reason when the encounter to score is not in the data."""
    if encounter_id is None:
        return "Current hospital encounter"
    return f"Encounter/{encounter_id[:64]} named by the EHR (not in the data received)"


def _static_value(
    f: FeatureSpec, patient: Mapping[str, Any] | None, encounter: Mapping[str, Any] | None, at: float
) -> float:
    if f.aggregation == "male":
        gender = (patient or {}).get("gender")
        return 1.0 if gender == "male" else 0.0 if gender == "female" else NAN
    start = parse_time(((encounter or {}).get("period") or {}).get("start"))
    if f.aggregation == "age_years":  # age at admission, as PhysioNet's Age
        born = parse_time((patient or {}).get("birthDate"))
        return NAN if born is None else ((start or at) - born) / (365.25 * 24 * HOUR)
    return NAN if start is None else (at - start) / HOUR


def extract_features(
    spec: Sequence[FeatureSpec],
    resources: Sequence[Mapping[str, Any]],
    as_of: datetime,
    index: ObservationIndex | None = None,
    encounter_id: str | None = None,
) -> Extraction:
    """Build the feature vector of `spec` from raw FHIR JSON as of `as_of` (timezone-aware); encounter-level
    inputs (length of stay) come from the Encounter the EHR named, else the latest acute-care one."""
    at = as_of.timestamp()
    index = index or index_observations(resources, at)
    others = resources if index.others is None else index.others  # a share's index has its Patient and Encounters
    patient = _first(others, "Patient")
    encounter = current_encounter(others, at, encounter_id)
    values: list[float] = []
    ages: dict[str, float] = {}
    times: dict[str, datetime] = {}
    basis: set[str] = set()
    missing: list[str] = []
    stale: list[str] = []
    for f in spec:
        if f.source != "Observation":
            values.append(_static_value(f, patient, encounter, at))
            continue
        s = index.series.get(f.column)
        value, i = _series_value(f, s, at)
        values.append(value)
        if s is not None and i is not None:
            ages[f.name] = (at - s.times[i]) / HOUR
            times[f.name] = datetime.fromtimestamp(s.times[i], tz=UTC)
            basis.add(s.refs[i])
        if f.required:
            _check_required(f, s, at, missing, stale)
    if encounter_id is not None and encounter is None:
        missing.append(encounter_missing(encounter_id))
    return Extraction(
        tuple(f.name for f in spec),
        tuple(values),
        ages,
        times,
        tuple(missing),
        tuple(stale),
        tuple(sorted(basis)),
        _unit_notes(index),
    )


def _check_required(f: FeatureSpec, s: Series | None, at: float, missing: list[str], stale: list[str]) -> None:
    i = None if s is None else bisect.bisect_right(s.times, at) - 1
    if s is None or i is None or i < 0:
        missing.append(f.label)
    elif f.freshness_hours is not None and (at - s.times[i]) / HOUR > f.freshness_hours:
        stale.append(f.label)


def _unit_notes(index: ObservationIndex) -> tuple[str, ...]:
    return tuple(
        f"{column}: ignored values in unknown unit(s) {', '.join(sorted(units))}"
        for column, units in sorted(index.unconverted_units.items())
    )
