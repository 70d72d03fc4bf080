"""fhirapp fixtures: the official FHIR R4 JSON schema (compiled once) and sample score results."""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from scoring.catalogue import definition_of
from scoring.types import Driver, ScoreResult

DATA = Path(__file__).resolve().parent.parent / "data" / "fhir"
SCHEMA_PATH = DATA / "schema" / "fhir.schema.json"
Validate = Callable[[dict[str, Any]], list[str]]
AS_OF = datetime(2024, 3, 5, 14, 30, tzinfo=UTC)


@pytest.fixture(scope="session")
def fhir_schema_validate() -> Validate:
    """Validate a resource against its definition in fhir.schema.json; returns the error messages."""
    definitions = json.loads(SCHEMA_PATH.read_text())["definitions"]
    validators: dict[str, jsonschema.Draft6Validator] = {}

    def validate(resource: dict[str, Any]) -> list[str]:
        rtype = resource["resourceType"]
        if rtype not in validators:
            validators[rtype] = jsonschema.Draft6Validator(
                {"$ref": f"#/definitions/{rtype}", "definitions": definitions}
            )
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validators[rtype].iter_errors(resource)]

    return validate


def sepsis_result(**overrides: Any) -> ScoreResult:
    """A scored ML result as the scoring engine returns it (hand-written, synthetic)."""
    drivers = (
        Driver(
            "lactate_last", "Lactate", 4.1, "mmol/L", 2.0, 0.81, "raises", "Lactate 4.1 mmol/L, 2 h ago, raises risk"
        ),
        Driver(
            "hr_last", "Heart rate", 118.0, "/min", 0.5, 0.42, "raises", "Heart rate 118 /min, 30 min ago, raises risk"
        ),
        Driver(
            "temp_last", "Temperature", 36.9, "Cel", 1.0, -0.12, "lowers", "Temperature 36.9 Cel, 1 h ago, lowers risk"
        ),
    )
    values: dict[str, Any] = dict(
        model_name="sepsis",
        model_version="2024.03.1",
        model_sha256="a" * 64,
        spec_version="1",
        model_status="active",
        kind="ml",
        title="Sepsis risk",
        as_of=AS_OF,
        scored=True,
        probability=0.3412,
        points=None,
        band="high",
        indicator="critical",
        summary="Sepsis risk HIGH: 34% in next 6 h",
        horizon_hours=6,
        provider="CPUExecutionProvider",
        drivers=drivers,
        data_times={
            "lactate_last": datetime(2024, 3, 5, 12, 30, tzinfo=UTC),
            "hr_last": datetime(2024, 3, 5, 14, 0, tzinfo=UTC),
            "temp_last": datetime(2024, 3, 5, 13, 30, tzinfo=UTC),
        },
        basis=("Observation/lac-1", "Observation/hr-7", "Observation/temp-3"),
        input_digest="b" * 64,
        margin=-0.66,
        base_value=-1.77,
    )
    values.update(overrides)
    model = definition_of(values["model_name"])  # the outcome coding travels with every result (catalogue)
    values.setdefault("outcome", model.outcome.concept())
    values.setdefault("score_code", model.score_code)
    return ScoreResult(**values)


def readmission_result() -> ScoreResult:
    """A 30-day readmission result (ML, horizon in days)."""
    drivers = (
        Driver(
            "number_inpatient",
            "Inpatient visits in the prior year",
            3.0,
            "",
            None,
            0.55,
            "raises",
            "3 inpatient visits in the prior year, raises risk",
        ),
    )
    return sepsis_result(
        model_name="readmission",
        model_version="2024.02.0",
        title="30-day readmission risk",
        probability=0.18,
        band="moderate",
        indicator="warning",
        horizon_hours=720,
        summary="30-day readmission risk MODERATE: 18%",
        drivers=drivers,
        data_times={},
        basis=("Encounter/enc-1", "Condition/cond-9"),
    )


def news2_result() -> ScoreResult:
    """A NEWS2 rule result: points, no probability."""
    drivers = (
        Driver(
            "resp_last", "Respiratory rate", 24.0, "/min", 0.25, 2.0, "raises", "Respiratory rate 24 /min: 2 points"
        ),
        Driver("spo2_last", "Oxygen saturation", 93.0, "%", 0.25, 2.0, "raises", "Oxygen saturation 93 %: 2 points"),
        Driver(
            "sbp_last",
            "Systolic blood pressure",
            104.0,
            "mm[Hg]",
            0.5,
            1.0,
            "raises",
            "Systolic blood pressure 104 mm[Hg]: 1 point",
        ),
    )
    return sepsis_result(
        model_name="news2",
        model_version="rcp-2017",
        model_sha256="",
        kind="rule",
        title="NEWS2",
        probability=None,
        points=5.0,
        band="moderate",
        indicator="warning",
        horizon_hours=None,
        provider="rule",
        summary="NEWS2 5: medium clinical risk",
        drivers=drivers,
        data_times={"resp_last": datetime(2024, 3, 5, 14, 15, tzinfo=UTC)},
        basis=("Observation/rr-2", "Observation/spo2-2", "Observation/bp-2"),
        margin=None,
        base_value=None,
    )


@pytest.fixture
def live(live_server: Any) -> dict[str, Any]:
    """The sandbox FHIR server under live_server with one seeded patient and a scored result to write back."""
    from tests.fhirapp.live import fhir_base, reader, seeded_result

    base = fhir_base(live_server)
    client = reader(base)
    patient_id, result = seeded_result(client)
    return {"base": base, "client": client, "patient_id": patient_id, "result": result}
