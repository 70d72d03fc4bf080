"""Readmission: XGBoost on Diabetes-130 stays, readmission within 30 days (encounter-discharge first)."""

from scoring.catalogue import register
from scoring.catalogue.definition import ModelDefinition, Outcome, observation_requirements
from scoring.features.readmission import extract_readmission
from scoring.features.spec import ENCOUNTER_HISTORY_HOURS, GLUCOSE_CODES, HBA1C_CODES, READMISSION_FEATURES

READMISSION_LOOKBACK_HOURS = 366 * 24.0  # a stay's labs, and the prior-year counts

# Outcome: SNOMED CT 417005 |Hospital re-admission (procedure)|: Diabetes-130 label "<30" = readmitted
# within 30 days (Strack et al., BioMed Res Int 2014:781670); the 30-day horizon travels in whenRange.
READMISSION = register(
    ModelDefinition(
        name="readmission",
        title="30-day readmission risk",
        kind="ml",
        hooks=("encounter-discharge", "patient-view"),
        order=40,
        requirements=observation_requirements(
            ("Patient", "Encounter", "Condition", "MedicationRequest", "Observation", "Procedure"),
            HBA1C_CODES + GLUCOSE_CODES,
            READMISSION_LOOKBACK_HOURS,
            ENCOUNTER_HISTORY_HOURS,
        ),
        outcome=Outcome(
            "417005",
            "Hospital re-admission (procedure)",
            "Readmission within 30 days",
            ends_prediction=False,
            recorded_as="readmission",
        ),
        description="probability of an unplanned readmission within 30 days of discharge",
        features=READMISSION_FEATURES,
        trainer="scoring.training.readmission:train",
        extractor=lambda resources, as_of, index, encounter_id: extract_readmission(resources, as_of, encounter_id),
    )
)
