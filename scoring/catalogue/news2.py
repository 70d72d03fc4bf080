"""NEWS2 (Royal College of Physicians 2017): points from the latest fresh vital signs (patient-view)."""

from scoring.catalogue import register
from scoring.catalogue.definition import (
    SNOMED,
    ModelDefinition,
    Outcome,
    Resources,
    RuleHit,
    RuleSpec,
    column_codes,
    observation_requirements,
)
from scoring.features.fhir_index import ObservationIndex, latest_value
from scoring.features.spec import BP_PANEL_CODES, VITAL_FRESHNESS_HOURS
from scoring.rules.news2 import news2_score


def _fio2(resources: Resources, index: ObservationIndex, at: float) -> RuleHit:
    """FiO2: above room air it means supplemental oxygen (NEWS2 "air or oxygen")."""
    return latest_value(index, "FiO2", at)


# Outcome: SNOMED CT 271299001 |Patient's condition worsened (finding)|: NEWS2 is a trigger for clinical
# deterioration (Royal College of Physicians, National Early Warning Score 2, 2017).
NEWS2 = register(
    ModelDefinition(
        name="news2",
        title="NEWS2",
        kind="rule",
        hooks=("patient-view",),
        order=20,
        requirements=observation_requirements(
            ("Patient", "Observation"),
            column_codes("Resp", "O2Sat", "SBP", "HR", "Temp", "FiO2") + ("2708-6",) + BP_PANEL_CODES,
            VITAL_FRESHNESS_HOURS,
        ),
        outcome=Outcome("271299001", "Patient's condition worsened (finding)", "Clinical deterioration"),
        description="the National Early Warning Score 2 from the latest vital signs",
        rule=RuleSpec(
            inputs={"resp_rate": "Resp", "spo2": "O2Sat", "sbp": "SBP", "heart_rate": "HR", "temperature": "Temp"},
            extra_key="fio2",
            read_extra=_fio2,
            score=news2_score,
            version="rcp-2017",
            moderate_at=5.0,
            high_at=7.0,
            source="RCP NEWS2 2017 Chart 2 (plus a single parameter scoring 3 -> moderate)",
        ),
        # SNOMED CT UK edition 1104051000000101 |Royal College of Physicians National Early Warning Score 2 -
        # total score (observable entity)| (UK Core ValueSet EarlyWarningTotalScores).
        score_code={
            "system": SNOMED,
            "code": "1104051000000101",
            "display": "Royal College of Physicians National Early Warning Score 2 - total score",
        },
    )
)
