"""Every resource we write is valid R4 to an independent validator (FHIR.js under Node): RiskAssessment,
Observation and Provenance of rule and ML scores, AuditEvents of scored and refused inferences."""

from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.forms.models import model_to_dict

from audit.fhir import audit_event_build
from audit.models import AuditRecord
from config.fhir_json import resource_json
from fhirapp.services.writeback import write_back_bundle
from scoring.services import score_patient
from scoring.types import ScoreResult
from tests.cds_hooks.conftest import physionet_stay_resources
from tests.fhir_validator import fhir_validate
from tests.fhirapp.conftest import news2_result, readmission_result, sepsis_result

pytestmark = pytest.mark.django_db
RECORDED = datetime(2024, 3, 5, 14, 31, 2, tzinfo=UTC)


def _written(result: ScoreResult, encounter_id: str | None) -> list[dict[str, Any]]:
    """The resources of the write-back Bundle of `result` (what the EHR receives)."""
    bundle = write_back_bundle(result, patient_id="pat-1", encounter_id=encounter_id, key="ab" * 32, recorded=RECORDED)
    return [entry["resource"] for entry in bundle["entry"]]


def _real_results() -> tuple[list[ScoreResult], str]:
    """Real scores of a PhysioNet stay (sepsis and readmission ML, NEWS2 and qSOFA rules) and refusals."""
    call_command("install_models", stdout=StringIO())
    stay = physionet_stay_resources(last_rows=12)
    patient_id = next(r["id"] for r in stay if r["resourceType"] == "Patient")
    encounter = next(r for r in stay if r["resourceType"] == "Encounter" and "partOf" not in r)
    as_of = datetime.fromisoformat(max(r["effectiveDateTime"] for r in stay if r["resourceType"] == "Observation"))
    results = [
        score_patient(
            model_name=name,
            resources=stay,
            as_of=as_of,
            patient_id=patient_id,
            encounter_id=encounter["id"] if name == "readmission" else None,
        )
        for name in ("sepsis", "news2", "qsofa", "readmission")
    ]
    no_vitals = [r for r in stay if r["resourceType"] != "Observation"]
    results += [
        score_patient(model_name=name, resources=no_vitals, as_of=as_of, patient_id=patient_id)
        for name in ("sepsis", "news2")
    ]
    return results, encounter["id"]


def test_the_validator_flags_a_wrong_reference_target_type() -> None:
    observation = _written(sepsis_result(), None)[1]
    observation["derivedFrom"] = [{"reference": "Encounter/enc-1"}]
    [error] = fhir_validate([observation])
    assert error.startswith("Observation #0: Observation.derivedFrom[0]: Invalid type for reference")


def test_the_validator_checks_r4_invariants() -> None:
    """FHIRPath invariants of the R4 definitions (here obs-6 and ras-2) are checked, naming the rule."""
    risk_assessment, observation = _written(sepsis_result(), None)[:2]
    observation["dataAbsentReason"] = {"text": "not measured"}  # beside a value: obs-6
    risk_assessment["prediction"][0]["probabilityDecimal"] = 150  # ras-2: must be <= 100
    errors = fhir_validate([risk_assessment, observation])
    assert any("ras-2" in e for e in errors) and any("obs-6" in e for e in errors), errors


@pytest.mark.parametrize("make", [sepsis_result, readmission_result, news2_result])
def test_hand_written_results_write_valid_r4(make: Any) -> None:
    assert fhir_validate(_written(make(), "enc-1")) == []
    assert fhir_validate(_written(make(), None)) == []


def test_real_scores_refusals_and_their_audit_events_are_valid_r4() -> None:
    results, encounter_id = _real_results()
    scored = [r for r in results if r.scored]
    assert {r.model_name for r in scored} == {"sepsis", "news2", "qsofa", "readmission"}
    assert any(not r.scored for r in results)
    written = [res for r in scored for res in _written(r, encounter_id)]
    events = [resource_json(audit_event_build({**model_to_dict(a), "id": a.pk})) for a in AuditRecord.objects.all()]
    scores = [e for e in events if e["subtype"][0]["code"] == "score"]
    assert len(scores) == len(results) and {e["outcome"] for e in scores} == {"0", "8"}
    assert fhir_validate(written + events) == []
