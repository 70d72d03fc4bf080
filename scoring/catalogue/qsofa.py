"""qSOFA (Sepsis-3, Singer et al. JAMA 2016): respiration, systolic pressure, mentation (patient-view)."""

from typing import Any

from scoring.catalogue import register
from scoring.catalogue.definition import (
    ModelDefinition,
    Outcome,
    Resources,
    RuleHit,
    RuleSpec,
    column_codes,
    observation_requirements,
)
from scoring.features.fhir_index import LOINC, ObservationIndex, parse_time
from scoring.features.spec import BP_PANEL_CODES, GCS_TOTAL, VITAL_FRESHNESS_HOURS
from scoring.rules.qsofa import qsofa_score


def _gcs(resources: Resources, index: ObservationIndex, at: float) -> RuleHit:
    """The latest Glasgow coma score total at or before `at` (altered mentation: GCS < 15), among the share's
    Observations coded GCS (`index.listed`, when the index lists them) instead of its thousands of samples."""
    best: RuleHit = None
    listed = None if index.listed is None else index.listed.get(GCS_TOTAL)
    for r in resources if listed is None else listed:  # the usual single coding is read inline
        code = r.get("code")
        coding = code.get("coding") if isinstance(code, dict) else None
        if not isinstance(coding, list) or not coding:
            continue
        first = coding[0]
        if len(coding) == 1 and isinstance(first, dict) and first.get("code") != GCS_TOTAL:
            continue
        if not _is_gcs(coding) or r.get("resourceType") != "Observation":
            continue
        t = parse_time(r.get("effectiveDateTime"))
        value = (r.get("valueQuantity") or {}).get("value")
        if t is not None and t <= at and isinstance(value, int | float) and (best is None or t > best[1]):
            best = (float(value), t, f"Observation/{r.get('id', '')}")
    return best


def _is_gcs(coding: list[Any]) -> bool:
    return any(isinstance(c, dict) and c.get("code") == GCS_TOTAL and c.get("system") == LOINC for c in coding)


# Outcome: SNOMED CT 419099009 |Dead (finding)|: qSOFA was derived to predict in-hospital death in suspected
# infection (Seymour et al., JAMA 2016;315(8):762-774).
QSOFA = register(
    ModelDefinition(
        name="qsofa",
        title="qSOFA",
        kind="rule",
        hooks=("patient-view",),
        order=30,
        requirements=observation_requirements(
            ("Patient", "Observation"),
            column_codes("Resp", "SBP") + BP_PANEL_CODES + (GCS_TOTAL,),
            VITAL_FRESHNESS_HOURS,
        ),
        outcome=Outcome("419099009", "Dead (finding)", "In-hospital death with suspected infection"),
        description="the quick SOFA score (Sepsis-3) from respiration, systolic pressure and mentation",
        rule=RuleSpec(
            inputs={"resp_rate": "Resp", "sbp": "SBP"},
            extra_key="gcs",
            read_extra=_gcs,
            score=qsofa_score,
            version="sepsis3-2016",
            moderate_at=2.0,
            high_at=2.0,
            source="Singer et al., JAMA 2016 (Sepsis-3): qSOFA >= 2 positive",
        ),
    )
)
