"""Helpers for write-back tests against the sandbox FHIR server over real HTTP (live_server)."""

from typing import Any
from urllib.parse import urlencode

from django.conf import settings

from fhirapp import resources
from fhirapp.client import FhirClient
from fhirapp.models import WriteBack
from fhirapp.services.writeback_delivery import write_back_drain
from sandbox_ehr.auth.services import access_token_issue
from scoring.types import ScoreResult
from tests.fhirapp.conftest import sepsis_result

# What a write-back needs, plus what the test itself reads and seeds.
TEST_SCOPE = "system/Patient.crs system/Observation.crs system/RiskAssessment.rs system/Provenance.rs"
OPERATION_OUTCOME = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "business-rule", "diagnostics": "RiskAssessment writes are disabled"}],
}


def fhir_base(live_server: Any) -> str:
    return f"{live_server.url}/sandbox/fhir"


def seeded_result(client: FhirClient) -> tuple[str, ScoreResult]:
    """A Patient and the three input Observations on the server; a sepsis result whose basis names them."""
    patient = client.request("POST", "Patient", body={"resourceType": "Patient", "gender": "female"})
    refs = []
    for code, value, unit in (("2524-7", 4.1, "mmol/L"), ("8867-4", 118, "/min"), ("8310-5", 36.9, "Cel")):
        observation = client.request(
            "POST",
            "Observation",
            body={
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "subject": {"reference": f"Patient/{patient['id']}"},
                "effectiveDateTime": "2024-03-05T12:30:00Z",
                "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
            },
        )
        refs.append(f"Observation/{observation['id']}")
    return str(patient["id"]), sepsis_result(basis=tuple(refs))


def reader(base_url: str) -> FhirClient:
    return FhirClient(base_url, token=access_token_issue(client_id="stratify-tests", scope=TEST_SCOPE))


def written(client: FhirClient, resource_type: str, key: str) -> list[dict[str, Any]]:
    query = urlencode({"identifier": f"{resources.IDENTIFIER_SYSTEM}|{key}"})
    return client.bundle_resources(client.search_url(f"{resource_type}?{query}"))


def provenances(client: FhirClient, target: str) -> list[dict[str, Any]]:
    return client.bundle_resources(client.search_url(f"Provenance?{urlencode({'target': target})}"))


def write_token() -> str:
    """A token with exactly the scope the backend write-back asks for."""
    return access_token_issue(client_id="stratify-backend", scope=settings.WRITEBACK_SCOPE)


def refreshed(write_back: WriteBack) -> WriteBack:
    """The row once its in-process background delivery has finished."""
    assert write_back_drain(), "write-back delivery did not finish"
    write_back.refresh_from_db()
    return write_back


def enqueue(live: dict[str, Any], *, drain: bool = True, **overrides: Any) -> Any:
    """Enqueue the live result's write-back (sidebar source, the user's write token) and return its row (once
    delivered, unless `drain` is False)."""
    from fhirapp.services.writeback import write_back_enqueue

    kwargs: dict[str, Any] = dict(
        result=live["result"],
        patient_id=live["patient_id"],
        encounter_id=None,
        fhir_base_url=live["base"],
        source="sidebar",
        service_id="sidebar",
        user_token=write_token(),
    )
    kwargs.update(overrides)
    write_back = write_back_enqueue(**kwargs)
    assert write_back is not None
    return refreshed(write_back) if drain else write_back
