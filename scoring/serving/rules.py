"""Score NEWS2 and qSOFA from FHIR through the same interface as the ML models (rule functions: scoring/rules/)."""
from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from scoring.features.fhir_index import LOINC, ObservationIndex, index_observations, parse_time
from scoring.features.spec import GCS_TOTAL, VITAL_FRESHNESS_HOURS
from scoring.models import ModelVersion
from scoring.rules.base import RuleScore
from scoring.rules.news2 import news2_score
from scoring.rules.qsofa import qsofa_score
from scoring.serving.explain import unit_spelled
from scoring.serving.policy import Policy
from scoring.serving.results import base_fields, input_digest, refusal
from scoring.types import Driver, ScoreResult

HOUR = 3600.0
ROOM_AIR_FIO2 = 0.21  # FiO2 above room air means supplemental oxygen (NEWS2 "air or oxygen")
# rule input key -> PhysioNet column it is read from
NEWS2_INPUTS = {"resp_rate": "Resp", "spo2": "O2Sat", "sbp": "SBP", "heart_rate": "HR", "temperature": "Temp"}
QSOFA_INPUTS = {"resp_rate": "Resp", "sbp": "SBP"}
LABELS = {"Resp": "Respiration rate", "O2Sat": "SpO2", "SBP": "Systolic blood pressure", "HR": "Pulse",
          "Temp": "Temperature", "FiO2": "FiO2", "GCS": "GCS"}


def _latest(index: ObservationIndex, column: str, at: float) -> tuple[float, float, str] | None:
    s = index.series.get(column)
    if s is None:
        return None
    i = bisect.bisect_right(s.times, at) - 1
    return (s.values[i], s.times[i], s.refs[i]) if i >= 0 else None


def _gcs(resources: Sequence[Mapping[str, Any]], at: float) -> tuple[float, float, str] | None:
    best: tuple[float, float, str] | None = None
    for r in resources:
        codings = (r.get("code") or {}).get("coding") or () if r.get("resourceType") == "Observation" else ()
        if not any(c.get("system") == LOINC and c.get("code") == GCS_TOTAL for c in codings):
            continue
        t = parse_time(r.get("effectiveDateTime"))
        value = (r.get("valueQuantity") or {}).get("value")
        if t is not None and t <= at and isinstance(value, int | float) and (best is None or t > best[1]):
            best = (float(value), t, f"Observation/{r.get('id', '')}")
    return best


def _inputs(name: str, resources: Sequence[Mapping[str, Any]], index: ObservationIndex,
            at: float) -> tuple[dict[str, Any], list[str], dict[str, datetime], set[str]]:
    """Rule input values (fresh only), labels of stale required inputs, input times and references."""
    mapping = NEWS2_INPUTS if name == "news2" else QSOFA_INPUTS
    values: dict[str, Any] = {}
    stale: list[str] = []
    times: dict[str, datetime] = {}
    basis: set[str] = set()
    found = {key: _latest(index, col, at) for key, col in mapping.items()}
    found["fio2" if name == "news2" else "gcs"] = (_latest(index, "FiO2", at) if name == "news2"
                                                   else _gcs(resources, at))
    for key, hit in found.items():
        if hit is None:
            continue
        value, t, ref = hit
        if (at - t) / HOUR > VITAL_FRESHNESS_HOURS:
            if key in mapping:
                stale.append(LABELS[mapping[key]])
            continue
        values[key] = value
        times[key] = datetime.fromtimestamp(t, tz=UTC)
        basis.add(ref)
    if "fio2" in values:
        values["on_oxygen"] = values.pop("fio2") > ROOM_AIR_FIO2
    return values, stale, times, basis


def _words(value: object) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


def _drivers(score: RuleScore, times: Mapping[str, datetime], at: datetime) -> tuple[Driver, ...]:
    out = []
    for p in sorted(score.parameters, key=lambda p: -p.points):
        if p.points <= 0:
            continue
        age = (at - times[p.key]).total_seconds() / HOUR if p.key in times else None
        value = float(p.value) if isinstance(p.value, int | float) and not isinstance(p.value, bool) else None
        # Rule inputs are shown as charted (no rounding), so a value never looks like it crossed a threshold.
        shown = unit_spelled(f"{value:g}", p.unit) if value is not None else _words(p.value)
        out.append(Driver(feature=p.key, label=p.label, value=value, unit=p.unit, age_hours=age,
                          contribution=float(p.points), direction="raises",
                          text=f"{p.label} {shown} scores {p.points} point{'s' if p.points != 1 else ''}",
                          value_text=shown))
    return tuple(out)


def score_rule(mv: ModelVersion, policy: Policy, resources: Sequence[Mapping[str, Any]], as_of: datetime,
               index: ObservationIndex | None = None) -> ScoreResult:
    """NEWS2 or qSOFA of one patient at as-of (refused when a required vital is missing or stale)."""
    at = as_of.timestamp()
    index = index or index_observations(resources, at)
    values, stale, times, basis = _inputs(mv.name, resources, index, at)
    score = news2_score(values) if mv.name == "news2" else qsofa_score(values)
    names = sorted(values)
    digest = input_digest(names, [float(values[k]) for k in names], as_of)
    data_times = dict(times)
    if not score.scored:
        missing = [m for m in score.missing if m not in stale]
        return refusal(mv, as_of, "rule", missing=missing, stale=stale, digest=digest, data_times=data_times,
                       basis=sorted(basis))
    band = score.band
    summary = f"{mv.title} {score.points}" + (" (lower bound)" if score.lower_bound else "") + \
        f": {band.upper() if band else ''}"
    return ScoreResult(**base_fields(mv, as_of, "rule"), scored=True, probability=None, points=float(score.points or 0),
                       band=band, indicator=policy.indicator(band), summary=summary[:140],
                       drivers=_drivers(score, times, as_of), data_times=data_times, basis=tuple(sorted(basis)),
                       input_digest=digest, reasons=score.notes)

