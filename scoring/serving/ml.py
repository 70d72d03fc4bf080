"""Score one ML model version: extract, refuse if required inputs are missing/stale, ONNX predict, exact SHAP."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from scoring.catalogue import definition_of
from scoring.errors import ModelNotReady
from scoring.features.extract import Extraction
from scoring.features.fhir_index import ObservationIndex
from scoring.models import ModelVersion
from scoring.presentation import horizon_text
from scoring.serving import registry
from scoring.serving.explain import contributions, drivers
from scoring.serving.policy import Policy
from scoring.serving.results import base_fields, input_digest, refusal
from scoring.types import ScoreResult, probability_text


def loaded_model(mv: ModelVersion) -> registry.LoadedModel:
    """The cached session of a version, or ModelNotReady with the reason."""
    try:
        return registry.load(mv.name, mv.version, mv.artifact_path, mv.sha256)
    except (registry.ArtifactProblem, OSError, KeyError) as exc:
        raise ModelNotReady(
            f"Model {mv.name} {mv.version} is not ready: {exc}", extra={"model": mv.name, "version": mv.version}
        ) from exc


def extract_for(
    model: registry.LoadedModel,
    resources: Sequence[Mapping[str, Any]],
    as_of: datetime,
    index: ObservationIndex | None,
    encounter_id: str | None = None,
) -> Extraction:
    """The model's features from FHIR (for the Encounter the EHR named, if it named one)."""
    extractor = definition_of(model.name).extractor
    if extractor is None:
        raise ModelNotReady(
            f"Model {model.name} {model.version} has no extractor in the catalogue.",
            extra={"model": model.name, "version": model.version},
        )
    return extractor(resources, as_of, index, encounter_id)


def base_rate(card: Mapping[str, Any]) -> float | None:
    """The outcome rate (positive rows / rows) of the card's internal held-out evaluation, if it has one."""
    internal = next((v for k, v in (card.get("metrics") or {}).items() if k.startswith("internal")), None)
    if not isinstance(internal, dict) or not internal.get("n_rows"):
        return None
    return float(internal.get("positive_rows", 0)) / float(internal["n_rows"])


def score_ml(
    mv: ModelVersion,
    policy: Policy,
    resources: Sequence[Mapping[str, Any]],
    as_of: datetime,
    index: ObservationIndex | None = None,
    encounter_id: str | None = None,
) -> ScoreResult:
    """Score (or refuse) one patient with one ML model version: a batch of one (`score_ml_batch`)."""
    prepared = ml_prepare(mv, resources, as_of, index, encounter_id)
    if isinstance(prepared, ScoreResult):
        return prepared
    return score_ml_batch(mv, policy, [prepared], as_of)[0]


def ml_prepare(
    mv: ModelVersion,
    resources: Sequence[Mapping[str, Any]],
    as_of: datetime,
    index: ObservationIndex | None = None,
    encounter_id: str | None = None,
) -> Extraction | ScoreResult:
    """One patient's extraction, ready to score; or their refusal (not applicable, required inputs missing
    or stale) when there is nothing to score."""
    model = loaded_model(mv)
    ex = extract_for(model, resources, as_of, index, encounter_id)
    if ex.not_applicable:
        notes = (ex.not_applicable, *ex.notes)
        return refusal(mv, as_of, model.provider, notes=notes, digest=_digest(ex), basis=ex.basis)
    if ex.missing or ex.stale:
        return refusal(
            mv,
            as_of,
            model.provider,
            missing=ex.missing,
            stale=ex.stale,
            notes=ex.notes,
            digest=_digest(ex),
            data_times=ex.data_times,
            basis=ex.basis,
        )
    return ex


def _digest(ex: Extraction) -> str:
    return input_digest(ex.names, ex.values)


def score_ml_batch(
    mv: ModelVersion, policy: Policy, extractions: Sequence[Extraction], as_of: datetime
) -> list[ScoreResult]:
    """Score prepared patients (`ml_prepare`) with one ONNX call and one exact TreeSHAP call for them all.

    Each row is computed on its own by both (single-threaded tree traversal), so a patient's result is the
    same in a batch of one (the CDS door) as in a population chunk; tests/scoring compare them.
    """
    if not extractions:
        return []
    model = loaded_model(mv)
    x = np.asarray([ex.values for ex in extractions], dtype=np.float32)
    margins = model.margin(x)
    contribs = contributions(model.booster, x)
    return [_scored(mv, policy, model, ex, float(margins[i]), contribs[i], as_of) for i, ex in enumerate(extractions)]


def _scored(
    mv: ModelVersion,
    policy: Policy,
    model: registry.LoadedModel,
    ex: Extraction,
    margin: float,
    contribs: npt.NDArray[np.float64],
    as_of: datetime,
) -> ScoreResult:
    probability = model.calibration.apply(margin)
    band = policy.band(probability)
    horizon = (mv.card or {}).get("horizon_hours")
    when = f" {horizon_text(horizon)}" if horizon else ""
    summary = f"{mv.title} {band.upper()}: {probability_text(probability)}{when}"[:140]
    return ScoreResult(
        **base_fields(mv, as_of, model.provider),
        scored=True,
        probability=probability,
        points=None,
        band=band,
        indicator=policy.indicator(band),
        summary=summary,
        cutoffs=(policy.moderate_at, policy.high_at),
        base_rate=base_rate(mv.card or {}),
        drivers=drivers(model.features, ex.values, contribs, ex.ages),
        data_times=ex.data_times,
        basis=ex.basis,
        input_digest=_digest(ex),
        margin=margin,
        base_value=float(contribs[-1]),
        reasons=ex.notes,
        feature_values=tuple(v if v == v else None for v in map(float, ex.values)),  # NaN (not available): None
    )
