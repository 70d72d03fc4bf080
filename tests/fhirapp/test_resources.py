"""Pure FHIR builders: golden JSON (compared parsed) and validity against the official R4 JSON schema."""

import json
import os
from datetime import UTC, datetime
from typing import Any

import pytest

from audit.fhir import audit_event_build
from config.fhir_json import resource_json
from fhirapp import resources
from fhirapp.resources import observation_build, provenance_build, risk_assessment_build
from scoring.types import ScoreResult
from tests.fhirapp.conftest import DATA, Validate, news2_result, readmission_result, sepsis_result

EXPECTED = DATA / "writeback" / "expected"
KEY = "9f" * 32
RECORDED = datetime(2024, 3, 5, 14, 31, 2, tzinfo=UTC)


def _bundle(result: ScoreResult, encounter: str | None = "enc-1") -> dict[str, dict[str, Any]]:
    ra = risk_assessment_build(result, patient_id="pat-1", encounter_id=encounter, identifier=KEY)
    obs = observation_build(result, patient_id="pat-1", encounter_id=encounter, identifier=KEY)
    prov = provenance_build(result, targets=["RiskAssessment/ra-1", "Observation/obs-1"], recorded=RECORDED, tag=KEY)
    return {"RiskAssessment": resource_json(ra), "Observation": resource_json(obs), "Provenance": resource_json(prov)}


CASES = {"sepsis": sepsis_result, "readmission": readmission_result, "news2": news2_result}


def _golden(name: str, actual: dict[str, Any]) -> dict[str, Any]:
    path = EXPECTED / f"{name}.json"
    if os.environ.get("STRATIFY_REGENERATE_GOLDEN"):  # on purpose only; review the diff
        path.write_text(json.dumps(actual, indent=2, sort_keys=True) + "\n")
    return dict(json.loads(path.read_text()))


class GoldenResourceTests:
    @pytest.mark.parametrize("case", sorted(CASES))
    def test_matches_golden(self, case: str) -> None:
        actual = _bundle(CASES[case]())
        assert actual == _golden(case, actual)

    def test_audit_event_matches_golden(self) -> None:
        actual = resource_json(audit_event_build(_audit_row()))
        assert actual == _golden("audit_event", actual)


class SchemaTests:
    @pytest.mark.parametrize("case", sorted(CASES))
    def test_valid_against_r4_schema(self, case: str, fhir_schema_validate: Validate) -> None:
        for resource in _bundle(CASES[case]()).values():
            assert fhir_schema_validate(resource) == []

    def test_without_encounter_is_valid(self, fhir_schema_validate: Validate) -> None:
        bundle = _bundle(sepsis_result(), encounter=None)
        assert "encounter" not in bundle["RiskAssessment"]
        assert all(fhir_schema_validate(r) == [] for r in bundle.values())

    def test_audit_event_valid(self, fhir_schema_validate: Validate) -> None:
        assert fhir_schema_validate(resource_json(audit_event_build(_audit_row()))) == []

    def test_schema_catches_a_broken_resource(self, fhir_schema_validate: Validate) -> None:
        broken = _bundle(sepsis_result())["RiskAssessment"]
        broken["prediction"][0]["probabilityDecimal"] = "high"
        del broken["subject"]
        errors = fhir_schema_validate(broken)
        assert any(e.startswith("prediction/0/probabilityDecimal") for e in errors)
        assert any("'subject' is a required property" in e for e in errors)


class RiskAssessmentContentTests:
    def test_sepsis_prediction(self) -> None:
        ra = _bundle(sepsis_result())["RiskAssessment"]
        prediction = ra["prediction"][0]
        assert prediction["outcome"]["coding"][0] == {
            "system": resources.SNOMED,
            "code": "91302008",
            "display": "Sepsis (disorder)",
        }
        assert prediction["probabilityDecimal"] == 0.3412
        assert prediction["qualitativeRisk"]["coding"][0]["code"] == "high"
        assert prediction["whenRange"]["high"] == {"value": 6, "unit": "h", "system": resources.UCUM, "code": "h"}
        assert prediction["rationale"].startswith("Top drivers: Lactate 4.1 mmol/L")
        assert ra["method"]["coding"][0]["version"] == "2024.03.1"
        assert [b["reference"] for b in ra["basis"]] == list(sepsis_result().basis)

    def test_driver_extension_carries_contribution_and_age(self) -> None:
        ra = _bundle(sepsis_result())["RiskAssessment"]
        first = {e["url"]: e for e in ra["extension"][0]["extension"]}
        assert ra["extension"][0]["url"] == resources.DRIVER_EXTENSION
        assert first["contribution"]["valueDecimal"] == 0.81
        assert first["inputAge"]["valueQuantity"]["value"] == 2.0
        assert first["inputTime"]["valueDateTime"] == "2024-03-05T12:30:00Z"

    def test_readmission_horizon_in_days(self) -> None:
        prediction = _bundle(readmission_result())["RiskAssessment"]["prediction"][0]
        assert prediction["outcome"]["coding"][0]["code"] == "417005"
        assert prediction["whenRange"]["high"]["value"] == 30
        assert prediction["whenRange"]["high"]["code"] == "d"

    def test_rule_score_has_points_not_probability(self) -> None:
        bundle = _bundle(news2_result())
        prediction = bundle["RiskAssessment"]["prediction"][0]
        assert "probabilityDecimal" not in prediction and "whenRange" not in prediction
        assert prediction["rationale"].startswith("NEWS2: 5 points.")
        assert bundle["Observation"]["valueQuantity"]["value"] == 5.0
        assert bundle["Observation"]["code"]["coding"][1]["code"] == "1104051000000101"

    def test_not_scored_is_refused(self) -> None:
        with pytest.raises(ValueError, match="not scored"):
            risk_assessment_build(
                sepsis_result(scored=False, probability=None), patient_id="p", encounter_id=None, identifier=KEY
            )

    def test_naive_time_is_refused(self) -> None:
        with pytest.raises(ValueError, match="timezone"):
            risk_assessment_build(
                sepsis_result(as_of=datetime(2024, 1, 1)), patient_id="p", encounter_id=None, identifier=KEY
            )


class ProvenanceTests:
    def test_agent_is_model_device_and_entities_are_inputs(self) -> None:
        prov = _bundle(sepsis_result())["Provenance"]
        who = prov["agent"][0]["who"]
        assert who["type"] == "Device" and who["identifier"]["value"] == "sepsis@2024.03.1"
        assert [e["what"]["reference"] for e in prov["entity"]] == list(sepsis_result().basis)
        assert prov["recorded"] == "2024-03-05T14:31:02Z"
        assert prov["meta"]["tag"][0]["code"] == KEY

    def test_needs_targets(self) -> None:
        with pytest.raises(ValueError, match="target"):
            provenance_build(sepsis_result(), targets=[], recorded=RECORDED, tag=KEY)


def _audit_row() -> dict[str, Any]:
    return {
        "id": 7,
        "recorded_at": RECORDED,
        "action": "score",
        "outcome": "success",
        "actor": "cds:https://ehr.example",
        "purpose_of_use": "TREAT",
        "patient_pseudonym": "c" * 64,
        "model_name": "sepsis",
        "model_version": "2024.03.1",
        "spec_version": "1",
        "input_digest": "b" * 64,
        "output_summary": {"probability": 0.34, "band": "high"},
        "detail": {},
        "request_id": "req-1",
        "prev_hash": "0" * 64,
        "record_hash": "d" * 64,
    }
