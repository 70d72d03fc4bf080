"""Sandbox fault injection: armed faults answer the next matching requests, then clear."""

from typing import Any

import pytest

from sandbox_ehr.fhir.faults import fault_clear, fault_inject
from sandbox_ehr.fhir.models import FhirResource
from tests.sandbox_fhir.conftest import Fhir

PATIENT = {"resourceType": "Patient", "gender": "female"}


def test_fault_answers_the_next_n_matching_requests(fhir: Fhir) -> None:
    fault_inject(status=503, times=2)
    assert fhir.get("Patient").status_code == 200  # GET is not armed
    first, second = fhir.send("POST", "Patient", PATIENT), fhir.send("POST", "Patient", PATIENT)
    assert (first.status_code, second.status_code) == (503, 503)
    assert first.json()["resourceType"] == "OperationOutcome"
    assert not FhirResource.objects.exists()
    assert fhir.send("POST", "Patient", PATIENT).status_code == 201


def test_custom_body_methods_and_clear(fhir: Fhir) -> None:
    body: dict[str, Any] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "business-rule", "diagnostics": "no writes today"}],
    }
    fault_inject(status=422, times=5, methods=["GET", "put"], body=body)
    response = fhir.get("Patient")
    assert response.status_code == 422 and response.json() == body
    fault_clear()
    assert fhir.get("Patient").status_code == 200


def test_metadata_is_never_faulted(fhir_as: Any) -> None:
    fault_inject(status=500, methods=["GET"])
    assert fhir_as(scope=None).get("metadata").status_code == 200


def test_rejects_a_non_error_status() -> None:
    with pytest.raises(ValueError):
        fault_inject(status=200)
