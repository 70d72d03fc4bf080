"""Scoring services: score a patient with one model or with every model bound to a CDS hook; registry writes.

The interface the doors call (docs/architecture.md#scoring-service). Every inference is audited (action "score").
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from scoring.errors import ModelNotFound, ModelNotReady
from scoring.features.extract import deceased_reason
from scoring.features.fhir_index import index_observations
from scoring.models import ModelVersion
from scoring.selectors import MODEL_HOOKS, hook_models, model_registered, serving_versions
from scoring.serving.ml import loaded_model, score_ml
from scoring.serving.policy import DEFAULT_INDICATORS, Policy
from scoring.serving.results import refusal
from scoring.serving.rules import score_rule
from scoring.types import ScoreResult

logger = logging.getLogger(__name__)

# Re-exported registry writes (the management commands and admin use them).
from scoring.services_registry import model_register, model_status_set, policy_update  # noqa: E402, F401


def _policy(mv: ModelVersion) -> Policy:
    p = getattr(mv, "policy", None)
    if p is None:
        raise ModelNotReady(f"Model {mv.name} {mv.version} has no threshold policy.")
    indicators = {**DEFAULT_INDICATORS, "low": p.low_indicator, "moderate": p.moderate_indicator,
                  "high": p.high_indicator}
    return Policy(p.moderate_at, p.high_at, indicators)


def _as_aware(as_of: datetime) -> datetime:
    if as_of.tzinfo is None:
        from config.errors import ValidationFailed

        raise ValidationFailed("as_of must be timezone-aware.", extra={"fields": {"as_of": "timezone required"}})
    return as_of


def _score_version(mv: ModelVersion, resources: Sequence[Mapping[str, Any]], as_of: datetime,
                   index: Any, encounter_id: str | None, deceased: str | None) -> ScoreResult:
    """One version's result; `deceased` (`deceased_reason`, found once per patient) refuses every model."""
    policy = _policy(mv)
    if deceased is not None:
        provider = "rule" if mv.kind == "rule" else loaded_model(mv).provider  # a broken model still says so
        return refusal(mv, as_of, provider, notes=(deceased,))
    if mv.kind == "rule":
        return score_rule(mv, policy, resources, as_of, index)
    return score_ml(mv, policy, resources, as_of, index, encounter_id)


def score_audit_entry(result: ScoreResult, patient_id: str) -> dict[str, Any]:
    """The "score" audit record of one inference, as keyword arguments of `audit_record_create`.

    For callers that score with `audit=False` and write their records together
    (`fhirapp.services.audit.audit_records_create`).
    """
    return {
        "action": "score", "outcome": "success" if result.scored else "not_scored", "patient_id": patient_id,
        "model_name": result.model_name, "model_version": result.model_version,
        "spec_version": result.spec_version, "input_digest": result.input_digest,
        "output_summary": {"scored": result.scored, "probability": result.probability, "points": result.points,
                           "band": result.band, "status": result.model_status,
                           "reasons": list(result.reasons)[:5]},
    }


def _audit(result: ScoreResult, patient_id: str) -> None:
    from fhirapp.services.audit import audit_record_create

    audit_record_create(**score_audit_entry(result, patient_id))


def _versions(model_name: str, patient_id: str) -> list[ModelVersion]:
    if model_name not in MODEL_HOOKS or not model_registered(model_name):
        raise ModelNotFound(f"No model named {model_name!r} is registered.", extra={"model": model_name})
    versions = serving_versions(model_name, patient_id)
    if not versions or versions[0].status == "shadow":
        raise ModelNotReady(f"Model {model_name!r} has no active version.", extra={"model": model_name})
    return versions


def score_patient(*, model_name: str, resources: Sequence[Mapping[str, Any]], as_of: datetime,
                  patient_id: str, audit: bool = True, encounter_id: str | None = None) -> ScoreResult:
    """Score one patient with the version of `model_name` that serves them (active, or canary bucket);
    `encounter_id` names the Encounter to score (a hook's or launch's context), else the latest acute one.

    `audit=False` leaves the "score" record to the caller, who must write it (see `score_audit_entry`).
    """
    as_of = _as_aware(as_of)
    mv = _versions(model_name, patient_id)[0]
    result = _score_version(mv, resources, as_of, index_observations(resources, as_of.timestamp()),
                            encounter_id, deceased_reason(resources, as_of.timestamp()))
    if audit:
        _audit(result, patient_id)
    return result


def score_with_shadows(*, model_name: str, resources: Sequence[Mapping[str, Any]], as_of: datetime,
                       patient_id: str, encounter_id: str | None = None) -> list[ScoreResult]:
    """`score_patient`'s result first, then every shadow version of the same model on the same data.

    Shadow results carry `model_status == "shadow"` and are audited like any inference; consumers never
    show them. A shadow version that fails is logged and skipped: it must never change what is served.
    Without shadow versions this costs what `score_patient` costs (the serving rows are cached).
    """
    as_of = _as_aware(as_of)
    versions = _versions(model_name, patient_id)
    index = index_observations(resources, as_of.timestamp())
    deceased = deceased_reason(resources, as_of.timestamp())
    results: list[ScoreResult] = []
    for mv in versions:
        if mv.status != "shadow":
            result = _score_version(mv, resources, as_of, index, encounter_id, deceased)
        else:
            try:
                result = _score_version(mv, resources, as_of, index, encounter_id, deceased)
            except Exception:  # a shadow never affects the served answer
                logger.exception("shadow model %s %s failed; skipped", mv.name, mv.version)
                continue
        _audit(result, patient_id)
        results.append(result)
    return results


def score_for_hook(*, hook: str, resources: Sequence[Mapping[str, Any]], as_of: datetime,
                   patient_id: str, audit: bool = True, encounter_id: str | None = None) -> list[ScoreResult]:
    """Every model bound to `hook`: the serving version of each, plus shadow versions (never to be shown).

    `audit=False` leaves the "score" records to the caller, who must write them (see `score_audit_entry`).
    """
    as_of = _as_aware(as_of)
    index = index_observations(resources, as_of.timestamp())
    deceased = deceased_reason(resources, as_of.timestamp())
    results: list[ScoreResult] = []
    for name in dict.fromkeys(b.name for b in hook_models(hook)):
        for mv in serving_versions(name, patient_id):
            try:
                result = _score_version(mv, resources, as_of, index, encounter_id, deceased)
            except ModelNotReady:
                if mv.status != "shadow":
                    raise
                logger.warning("shadow model %s %s not ready; skipped", mv.name, mv.version)
                continue
            if audit:
                _audit(result, patient_id)
            results.append(result)
    return results
