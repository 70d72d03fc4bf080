"""Sepsis: XGBoost on PhysioNet 2019 vitals and labs, onset within the next 6 hours (patient-view)."""

from scoring.catalogue import register
from scoring.catalogue.definition import ModelDefinition, Outcome, observation_requirements
from scoring.features.extract import extract_features
from scoring.features.spec import (
    BP_PANEL_CODES,
    ENCOUNTER_HISTORY_HOURS,
    PHYSIONET_OBSERVATIONS,
    SEPSIS_FEATURES,
    SEPSIS_LOOKBACK_HOURS,
)

# Outcome: SNOMED CT 91302008 |Sepsis (disorder)|: the PhysioNet/CinC 2019 label is Sepsis-3 onset
# (Reyna et al., Crit Care Med 2020;48(2):210-217).
SEPSIS = register(
    ModelDefinition(
        name="sepsis",
        title="Sepsis risk",
        kind="ml",
        hooks=("patient-view",),
        order=10,
        requirements=observation_requirements(
            ("Patient", "Encounter", "Observation"),
            tuple(c for o in PHYSIONET_OBSERVATIONS for c in (o.loinc, *o.alternates)) + BP_PANEL_CODES,
            SEPSIS_LOOKBACK_HOURS,
            ENCOUNTER_HISTORY_HOURS,
        ),
        outcome=Outcome("91302008", "Sepsis (disorder)", "Sepsis onset"),
        description="probability of sepsis onset (Sepsis-3) within the next 6 hours in the ICU",
        features=SEPSIS_FEATURES,
        trainer="scoring.training.sepsis:train",
        extractor=lambda resources, as_of, index, encounter_id: extract_features(
            SEPSIS_FEATURES, resources, as_of, index, encounter_id
        ),
    )
)
