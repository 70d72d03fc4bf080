"""What the catalogue knows about one model: `ModelDefinition` and the parts it is made of.

Every fact about a model that is not in its artifact (hooks, features, data it reads, how its inputs are
extracted or its rule is scored, the outcome it predicts, the words it is shown with) lives in one
definition, in one module of this package. See docs/architecture.md ("One model catalogue").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from scoring.features.extract import Extraction
from scoring.features.fhir_index import ObservationIndex
from scoring.features.spec import BP_PANEL_CODES, OBSERVATION_BY_COLUMN, PHYSIONET_OBSERVATIONS, FeatureSpec
from scoring.rules.base import RuleScore

Resources = Sequence[Mapping[str, Any]]
Extractor = Callable[[Resources, datetime, ObservationIndex | None, str | None], Extraction]
# (value, time as a POSIX timestamp, FHIR reference) of the input a rule read, or None
RuleHit = tuple[float, float, str] | None
ExtraInput = Callable[[Resources, ObservationIndex, float], RuleHit]

SNOMED = "http://snomed.info/sct"


@dataclass(frozen=True, slots=True)
class DataRequirements:
    """The FHIR data a model reads, which every door fetches for it (fhirapp's `snapshot_fetch`).

    `observation_categories` are fetched whole (newest first); `observation_codes` are the few codes
    outside those categories, fetched by code. Observations are fetched over `lookback_hours`;
    Encounters over `encounter_hours` when the model reads earlier stays.
    """

    resource_types: tuple[str, ...]
    observation_categories: tuple[str, ...] = ()
    observation_codes: tuple[str, ...] = ()
    lookback_hours: float = 0.0
    encounter_hours: float = 0.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """The predicted outcome as SNOMED CT coding (RiskAssessment.prediction.outcome) and in words.

    `ends_prediction`: once it has happened, the patient's later scores predict nothing (sepsis onset); False
    for an outcome that can come again (a readmission); see `scoring.monitoring.labels`. `recorded_as`: how an
    EHR records it, which `scoring.monitoring.outcomes_fhir` reads: "condition" (a Condition with this code and
    its onset) or "readmission" (a later inpatient Encounter).
    """

    code: str
    display: str
    text: str
    ends_prediction: bool = True
    recorded_as: Literal["condition", "readmission"] = "condition"

    def concept(self) -> dict[str, Any]:
        """A FHIR CodeableConcept."""
        return {"coding": [{"system": SNOMED, "code": self.code, "display": self.display}], "text": self.text}


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """How a rule score reads its inputs and scores them.

    `inputs` maps each rule input to the PhysioNet column it is read from (the latest fresh value);
    `read_extra` reads one more input that is not a plain column (FiO2 turned into "on oxygen", GCS).
    """

    inputs: Mapping[str, str]
    extra_key: str
    read_extra: ExtraInput
    score: Callable[[Mapping[str, Any]], RuleScore]
    version: str  # the published edition the points and bands follow
    moderate_at: float  # published band cut-offs (points), the registered policy's defaults
    high_at: float
    source: str  # citation of the points and the bands


@dataclass(frozen=True, slots=True)
class ModelDefinition:
    """One model of the catalogue. `hooks[0]` is its primary hook (its CDS service id has no suffix)."""

    name: str
    title: str
    kind: Literal["ml", "rule"]
    hooks: tuple[str, ...]
    order: int  # display order on every surface
    requirements: DataRequirements
    outcome: Outcome
    description: str  # one sentence for the CDS service description and the model index
    features: tuple[FeatureSpec, ...] = ()
    extractor: Extractor | None = None
    rule: RuleSpec | None = None
    score_code: Mapping[str, str] | None = None  # a standard code of the score itself (Observation.code)
    trainer: str = ""  # "module:function" that trains an ML model (manage.py train_model)

    def __post_init__(self) -> None:
        if (self.kind == "ml") != (self.extractor is not None) or (self.kind == "rule") != (self.rule is not None):
            raise ValueError(f"model {self.name}: an ML model needs an extractor, a rule model a RuleSpec")
        if not self.hooks:
            raise ValueError(f"model {self.name}: bind it to at least one hook")

    @property
    def primary_hook(self) -> str:
        """The hook its CDS service is named after without a suffix."""
        return self.hooks[0]


def observation_requirements(
    types: tuple[str, ...], codes: Sequence[str], lookback_hours: float, encounter_hours: float = 0.0
) -> DataRequirements:
    """Requirements from the LOINC codes a model reads: whole categories where the codes have one
    (vital-signs, laboratory), the rest by code (e.g. GCS, HbA1c)."""
    category_of = {c: o.category for o in PHYSIONET_OBSERVATIONS for c in (o.loinc, *o.alternates)}
    category_of.update(dict.fromkeys(BP_PANEL_CODES, "vital-signs"))
    categories = tuple(sorted({category_of[c] for c in codes if c in category_of}, reverse=True))
    others = tuple(dict.fromkeys(c for c in codes if c not in category_of))
    return DataRequirements(types, categories, others, lookback_hours, encounter_hours)


def column_codes(*columns: str) -> tuple[str, ...]:
    """The LOINC codes (primary and accepted alternates) of PhysioNet columns."""
    return tuple(c for col in columns for o in (OBSERVATION_BY_COLUMN[col],) for c in (o.loinc, *o.alternates))
