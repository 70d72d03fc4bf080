"""Scoring services: score a patient with one model or with every model bound to a CDS hook.

Every door scores through these; each model reads its declared share of the patient's resources
(`scoring.features.select`). Every inference is audited (action "score") and, when scored, recorded for the
drift monitors (`scoring.monitoring.record`). See docs/architecture.md#scoring-service.
Registry writes (register, status, thresholds) are in `scoring.services_registry`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from audit.services import audit_along, audit_records_create
from config.errors import ApplicationError, ValidationFailed
from scoring.catalogue import definition, definition_of
from scoring.errors import ModelNotFound, ModelNotReady
from scoring.features.extract import Extraction, deceased_reason
from scoring.features.select import ParsedResources, model_share, parsed_resources
from scoring.models import ModelVersion
from scoring.monitoring.record import served_record
from scoring.selectors import ModelBinding, hook_models, model_registered, serving_versions
from scoring.serving.ml import loaded_model, ml_prepare, score_ml_batch
from scoring.serving.policy import DEFAULT_INDICATORS, Policy
from scoring.serving.results import refusal
from scoring.serving.rules import score_rule
from scoring.types import ScoreResult

logger = logging.getLogger(__name__)


def _policy(mv: ModelVersion) -> Policy:
    p = getattr(mv, "policy", None)
    if p is None:  # pragma: no cover - every registration creates one
        raise ModelNotReady(f"Model {mv.name} {mv.version} has no threshold policy.")
    indicators = {
        **DEFAULT_INDICATORS,
        "low": p.low_indicator,
        "moderate": p.moderate_indicator,
        "high": p.high_indicator,
    }
    return Policy(p.moderate_at, p.high_at, indicators)


def _as_aware(as_of: datetime) -> datetime:
    if as_of.tzinfo is None:
        raise ValidationFailed("as_of must be timezone-aware.", extra={"fields": {"as_of": "timezone required"}})
    return as_of


def _score_version(
    mv: ModelVersion,
    resources: ParsedResources,
    as_of: datetime,
    encounter_id: str | None,
    deceased: str | None,
) -> ScoreResult:
    """One version's result on its model's declared share of the resources (`model_share`);
    `deceased` (`deceased_reason`, found once per patient) refuses every model."""
    prepared = _prepare_version(mv, resources, as_of, encounter_id, deceased)
    if isinstance(prepared, ScoreResult):
        return prepared
    return score_ml_batch(mv, _policy(mv), [prepared], as_of)[0]


def _prepare_version(
    mv: ModelVersion,
    resources: ParsedResources,
    as_of: datetime,
    encounter_id: str | None,
    deceased: str | None,
) -> ScoreResult | Extraction:
    """A version's result, except an ML model's scorable extraction, which `score_ml_batch` finishes."""
    policy = _policy(mv)
    if deceased is not None:
        provider = "rule" if mv.kind == ModelVersion.Kind.RULE else loaded_model(mv).provider  # a broken one says so
        return refusal(mv, as_of, provider, notes=(deceased,))
    share = model_share(resources, definition_of(mv.name).requirements, as_of)
    if mv.kind == ModelVersion.Kind.RULE:
        return score_rule(mv, policy, share.resources, as_of, share.index)
    return ml_prepare(mv, share.resources, as_of, share.index, encounter_id)


def score_audit_entry(result: ScoreResult, patient_id: str) -> dict[str, Any]:
    """The "score" audit record of one inference, as keyword arguments of `audit_record_create`.

    For callers that score with `audit=False` and write their records together
    (`audit.services.audit_records_create`).
    """
    return {
        "action": "score",
        "outcome": "success" if result.scored else "not_scored",
        "patient_id": patient_id,
        "model_name": result.model_name,
        "model_version": result.model_version,
        "spec_version": result.spec_version,
        "input_digest": result.input_digest,
        "output_summary": {
            "scored": result.scored,
            "probability": result.probability,
            "points": result.points,
            "band": result.band,
            "status": result.model_status,
            "reasons": list(result.reasons)[:5],
        },
    }


def _versions(model_name: str, patient_id: str) -> list[ModelVersion]:
    if definition(model_name) is None or not model_registered(model_name):
        raise ModelNotFound(f"No model named {model_name!r} is registered.", extra={"model": model_name})
    versions = serving_versions(model_name, patient_id)
    if not versions or versions[0].status == ModelVersion.Status.SHADOW:
        raise ModelNotReady(f"Model {model_name!r} has no active version.", extra={"model": model_name})
    return versions


def score_patient(
    *,
    model_name: str,
    resources: Sequence[Mapping[str, Any]] | ParsedResources,
    as_of: datetime,
    patient_id: str,
    audit: bool = True,
    encounter_id: str | None = None,
) -> ScoreResult:
    """Score one patient with the version of `model_name` that serves them (active, or canary bucket);
    `encounter_id` names the Encounter to score (a hook's or launch's context), else the latest acute one.

    `audit=False` leaves the "score" record to the caller, who must write it (see `score_audit_entry`) and
    record the result for monitoring (`served_record`).
    """
    as_of = _as_aware(as_of)
    mv = _versions(model_name, patient_id)[0]
    parsed = parsed_resources(resources)
    result = _score_version(mv, parsed, as_of, encounter_id, deceased_reason(parsed.other_kinds(), as_of.timestamp()))
    if audit:
        audit_records_create([score_audit_entry(result, patient_id)])
        served_record([result], patient_id)
    return result


def score_with_shadows(
    *,
    model_name: str,
    resources: Sequence[Mapping[str, Any]] | ParsedResources,
    as_of: datetime,
    patient_id: str,
    encounter_id: str | None = None,
    audit: bool = True,
) -> list[ScoreResult]:
    """`score_patient`'s result first, then every shadow version of the same model on the same data.

    Shadow results carry `model_status == "shadow"` and are audited like any inference; consumers never
    show them. A shadow version that fails is logged and skipped: it must never change what is served.
    Without shadow versions this costs what `score_patient` costs (the serving rows are cached).
    """
    as_of = _as_aware(as_of)
    parsed = parsed_resources(resources)
    deceased = deceased_reason(parsed.other_kinds(), as_of.timestamp())
    results = _model_results(model_name, parsed, as_of, patient_id, encounter_id, deceased)
    if audit:
        audit_records_create([score_audit_entry(r, patient_id) for r in results])
        audit_along(lambda: served_record(results, patient_id))
    return results


def score_many_with_shadows(
    *,
    model_name: str,
    patients: Sequence[tuple[str, Sequence[Mapping[str, Any]] | ParsedResources]],
    as_of: datetime,
) -> list[list[ScoreResult]]:
    """`score_with_shadows(..., audit=False)` of each patient (a population chunk): the same results, with
    each ML version's scorable rows predicted and explained in one batch (`score_ml_batch`).

    The caller writes the "score" records (`score_audit_entry`). A shadow version that fails is skipped.
    """
    as_of = _as_aware(as_of)
    at = as_of.timestamp()
    slots: list[list[ScoreResult | Extraction | None]] = []
    pending: dict[int, tuple[ModelVersion, list[tuple[int, int]]]] = {}  # version pk -> (version, slots)
    for i, (pid, resources) in enumerate(patients):
        parsed = parsed_resources(resources)
        deceased = deceased_reason(parsed.other_kinds(), at)
        row: list[ScoreResult | Extraction | None] = []
        for mv in _versions(model_name, pid):
            row.append(_prepared_or_skipped(mv, parsed, as_of, deceased))
            if isinstance(row[-1], Extraction):
                pending.setdefault(mv.pk, (mv, []))[1].append((i, len(row) - 1))
        slots.append(row)
    for mv, places in pending.values():
        _finish_batch(mv, places, slots, as_of)
    return [[r for r in row if isinstance(r, ScoreResult)] for row in slots]


def _prepared_or_skipped(
    mv: ModelVersion, resources: ParsedResources, as_of: datetime, deceased: str | None
) -> ScoreResult | Extraction | None:
    if mv.status != ModelVersion.Status.SHADOW:
        return _prepare_version(mv, resources, as_of, None, deceased)
    try:
        return _prepare_version(mv, resources, as_of, None, deceased)
    except Exception:  # a shadow never affects the served answer
        logger.exception("shadow model %s %s failed; skipped", mv.name, mv.version)
        return None


def _finish_batch(
    mv: ModelVersion,
    places: list[tuple[int, int]],
    slots: list[list[ScoreResult | Extraction | None]],
    as_of: datetime,
) -> None:
    """Score one version's prepared rows in one batch, into their slots (a failing shadow's are emptied)."""
    rows = [row for i, j in places if isinstance(row := slots[i][j], Extraction)]
    try:
        results: list[ScoreResult | None] = list(score_ml_batch(mv, _policy(mv), rows, as_of))
    except Exception:
        if mv.status != ModelVersion.Status.SHADOW:
            raise
        logger.exception("shadow model %s %s failed; skipped", mv.name, mv.version)
        results = [None] * len(places)
    for (i, j), result in zip(places, results, strict=True):
        slots[i][j] = result


def _model_results(
    model_name: str,
    resources: ParsedResources,
    as_of: datetime,
    patient_id: str,
    encounter_id: str | None,
    deceased: str | None,
) -> list[ScoreResult]:
    """The serving version's result, then each shadow's (a shadow that fails is logged and skipped)."""
    results: list[ScoreResult] = []
    for mv in _versions(model_name, patient_id):
        if mv.status != ModelVersion.Status.SHADOW:
            results.append(_score_version(mv, resources, as_of, encounter_id, deceased))
            continue
        try:
            results.append(_score_version(mv, resources, as_of, encounter_id, deceased))
        except Exception:  # a shadow never affects the served answer
            logger.exception("shadow model %s %s failed; skipped", mv.name, mv.version)
    return results


@dataclass(frozen=True, slots=True)
class Unavailable:
    """A model bound to the hook that could not score at all (not ready), shown as such."""

    name: str
    title: str
    version: str
    reason: str


@dataclass(frozen=True, slots=True)
class HookScores:
    """Scores at one as-of time: what a surface shows, and every inference run (shadows too) for the audit."""

    visible: list[ScoreResult]
    unavailable: list[Unavailable]
    inferences: list[ScoreResult]


def score_for_hook(
    *,
    hook: str,
    resources: Sequence[Mapping[str, Any]] | ParsedResources,
    as_of: datetime,
    patient_id: str,
    audit: bool = True,
    encounter_id: str | None = None,
) -> HookScores:
    """Every model bound to `hook`, each exactly as its own CDS service scores it (serving version plus
    shadows, on its declared share of `resources`); a model that is not ready is listed as unavailable and
    the others still score.

    `audit=False` leaves the "score" records to the caller, who must write them (see `score_audit_entry`) and
    record the inferences for monitoring (`served_record`).
    """
    as_of = _as_aware(as_of)
    parsed = parsed_resources(resources)
    deceased = deceased_reason(parsed.other_kinds(), as_of.timestamp())
    visible: list[ScoreResult] = []
    unavailable: list[Unavailable] = []
    inferences: list[ScoreResult] = []
    for binding in _hook_serving(hook):
        try:
            results = _model_results(binding.name, parsed, as_of, patient_id, encounter_id, deceased)
        except ApplicationError as exc:
            unavailable.append(Unavailable(binding.name, binding.title, binding.version, exc.message))
            continue
        inferences += results
        visible += [r for r in results if r.model_status != ModelVersion.Status.SHADOW]
    if audit:
        audit_records_create([score_audit_entry(r, patient_id) for r in inferences])
        served_record(inferences, patient_id)
    return HookScores(visible, unavailable, inferences)


def _hook_serving(hook: str) -> list[ModelBinding]:
    """One binding per model of the hook, in display order (its active or canary version)."""
    serving: dict[str, ModelBinding] = {}
    for binding in hook_models(hook):
        if binding.status != ModelVersion.Status.SHADOW:
            serving.setdefault(binding.name, binding)
    return list(serving.values())
