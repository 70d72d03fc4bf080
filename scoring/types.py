"""The result types every consumer of the scoring engine sees (CDS cards, sidebar, write-back, audit)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Band = Literal["low", "moderate", "high"]
Indicator = Literal["info", "warning", "critical"]


@dataclass(frozen=True, slots=True)
class Driver:
    """One input's contribution to a score, in words a clinician reads."""

    feature: str  # feature-spec name, e.g. "lactate_last"
    label: str  # clinical label, e.g. "Lactate"
    value: float | None
    unit: str  # UCUM, e.g. "mmol/L"
    age_hours: float | None  # how old the input was at as-of
    contribution: float  # exact SHAP value (log-odds) for ML models; points for rule scores
    direction: Literal["raises", "lowers"]
    text: str  # e.g. "Lactate 4.1 mmol/L, 2 h ago, raises risk"
    # The value as a clinician reads it, rounded for its unit ("4.1 mmol/L", "not measured in the last 72 h");
    # consumers show this instead of formatting `value` themselves ("" = not set: fall back to value + unit).
    value_text: str = ""
    context: bool = False  # a charting or time input (how often / how long ago measured), not physiology


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """A score, or an honest refusal to score, with everything needed to show and audit it."""

    model_name: str  # e.g. "sepsis", "news2", "readmission"
    model_version: str
    model_sha256: str  # artifact checksum ("" for rule scores)
    spec_version: str  # feature spec version the model was trained on
    model_status: str  # active / canary / shadow
    kind: Literal["ml", "rule"]
    title: str  # e.g. "Sepsis risk"
    as_of: datetime
    scored: bool
    probability: float | None  # calibrated probability (ML models)
    points: float | None  # rule score total (NEWS2, qSOFA)
    band: Band | None
    indicator: Indicator
    summary: str  # under 140 characters, e.g. "Sepsis risk HIGH: 34% in next 6 h"
    horizon_hours: int | None
    provider: str  # onnxruntime execution provider used, or "rule"
    drivers: tuple[Driver, ...] = ()
    missing: tuple[str, ...] = ()  # labels of required inputs that were absent
    stale: tuple[str, ...] = ()  # labels of required inputs older than their freshness limit
    reasons: tuple[str, ...] = ()  # sentences: a refusal's (gap_sentences first), or a score's notes
    data_times: Mapping[str, datetime] = field(default_factory=dict)  # feature -> time of the input used
    basis: tuple[str, ...] = ()  # FHIR references ("Observation/123") of the inputs used
    input_digest: str = ""  # sha256 over the canonical inputs
    margin: float | None = None  # model margin (log-odds) = base_value + sum(contributions)
    base_value: float | None = None
    cutoffs: tuple[float, float] | None = None  # (moderate_at, high_at) of the policy that banded it
    base_rate: float | None = None  # outcome rate in the held-out training-site data (ML), for comparison
    outcome: Mapping[str, Any] = field(default_factory=dict)  # predicted outcome (CodeableConcept), catalogue
    score_code: Mapping[str, str] | None = None  # a standard code of the score itself (catalogue), if any
    # The model's input vector in its card's feature order (None = missing); ML scores only, for monitoring.
    feature_values: tuple[float | None, ...] = ()

    def notes(self) -> tuple[str, ...]:
        """The reasons that do not restate `missing`/`stale` (those are shown as lists of their own)."""
        gaps = set(gap_sentences(self.missing, self.stale))
        return tuple(r for r in self.reasons if r not in gaps)


def probability_text(probability: float) -> str:
    """A calibrated probability as clinicians read it: whole percent, but never "0%" or "100%" (no estimate is
    certain): "<1%" and ">99%" where rounding would say so."""
    text = f"{probability:.0%}"
    return {"0%": "<1%", "100%": ">99%"}.get(text, text)


def gap_sentences(missing: Sequence[str], stale: Sequence[str]) -> list[str]:
    """The refusal sentences of missing and stale required inputs (one definition, read by `notes`)."""
    return [f"Required input missing: {label}." for label in missing] + [
        f"Required input too old: {label}." for label in stale
    ]


@dataclass(frozen=True, slots=True)
class PatientScores:
    """One model's results for one patient of an EHR registration, on a unit ("" if unknown): the served result
    first, then shadows. What a door hands the score listeners (`alerts.services.alerts_on_scores`)."""

    registration_id: int
    patient_id: str  # the bare FHIR id
    unit: str
    results: Sequence[ScoreResult]
