"""Score a rule model (NEWS2, qSOFA, ...) from FHIR through the same interface as the ML models; the rule's
inputs and points come from its catalogue definition."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from scoring.catalogue import RuleSpec, definition_of
from scoring.errors import ModelNotReady
from scoring.features.fhir_index import ObservationIndex, index_observations, latest_value
from scoring.features.spec import VITAL_FRESHNESS_HOURS
from scoring.models import ModelVersion
from scoring.rules.base import RuleScore
from scoring.serving.explain import unit_spelled
from scoring.serving.policy import Policy
from scoring.serving.results import base_fields, input_digest, refusal
from scoring.types import Driver, ScoreResult

HOUR = 3600.0
ROOM_AIR_FIO2 = 0.21  # FiO2 above room air means supplemental oxygen (NEWS2 "air or oxygen")
LABELS = {
    "Resp": "Respiration rate",
    "O2Sat": "SpO2",
    "SBP": "Systolic blood pressure",
    "HR": "Pulse",
    "Temp": "Temperature",
    "FiO2": "FiO2",
    "GCS": "GCS",
}


def _inputs(
    rule: RuleSpec, resources: Sequence[Mapping[str, Any]], index: ObservationIndex, at: float
) -> tuple[dict[str, Any], list[str], dict[str, datetime], set[str]]:
    """Rule input values (fresh only), labels of stale required inputs, input times and references."""
    values: dict[str, Any] = {}
    stale: list[str] = []
    times: dict[str, datetime] = {}
    basis: set[str] = set()
    found = {key: latest_value(index, col, at) for key, col in rule.inputs.items()}
    found[rule.extra_key] = rule.read_extra(resources, index, at)
    for key, hit in found.items():
        if hit is None:
            continue
        value, t, ref = hit
        if (at - t) / HOUR > VITAL_FRESHNESS_HOURS:
            if key in rule.inputs:
                stale.append(LABELS[rule.inputs[key]])
            continue
        values[key] = value
        times[key] = datetime.fromtimestamp(t, tz=UTC)
        basis.add(ref)
    if "fio2" in values:  # NEWS2's "air or oxygen", with the time of the FiO2 it was read from
        values["on_oxygen"] = values.pop("fio2") > ROOM_AIR_FIO2
        times["on_oxygen"] = times.pop("fio2")
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
        out.append(
            Driver(
                feature=p.key,
                label=p.label,
                value=value,
                unit=p.unit,
                age_hours=age,
                contribution=float(p.points),
                direction="raises",
                text=f"{p.label} {shown} scores {p.points} point{'s' if p.points != 1 else ''}",
                value_text=shown,
            )
        )
    return tuple(out)


def score_rule(
    mv: ModelVersion,
    policy: Policy,
    resources: Sequence[Mapping[str, Any]],
    as_of: datetime,
    index: ObservationIndex | None = None,
) -> ScoreResult:
    """NEWS2 or qSOFA of one patient at as-of (refused when a required vital is missing or stale)."""
    at = as_of.timestamp()
    index = index or index_observations(resources, at)
    rule = definition_of(mv.name).rule
    if rule is None:
        raise ModelNotReady(
            f"Model {mv.name} {mv.version} is registered as a rule but the catalogue has no rule for it.",
            extra={"model": mv.name},
        )
    values, stale, times, basis = _inputs(rule, resources, index, at)
    score = rule.score(values)
    names = sorted(values)
    digest = input_digest(names, [float(values[k]) for k in names])
    data_times = dict(times)
    if not score.scored:
        missing = [m for m in score.missing if m not in stale]
        return refusal(
            mv, as_of, "rule", missing=missing, stale=stale, digest=digest, data_times=data_times, basis=sorted(basis)
        )
    band = score.band
    summary = (
        f"{mv.title} {score.points}"
        + (" (lower bound)" if score.lower_bound else "")
        + f": {band.upper() if band else ''}"
    )
    return ScoreResult(
        **base_fields(mv, as_of, "rule"),
        scored=True,
        probability=None,
        points=float(score.points or 0),
        band=band,
        indicator=policy.indicator(band),
        summary=summary[:140],
        cutoffs=(policy.moderate_at, policy.high_at),
        drivers=_drivers(score, times, as_of),
        data_times=data_times,
        basis=tuple(sorted(basis)),
        input_digest=digest,
        reasons=score.notes,
    )
