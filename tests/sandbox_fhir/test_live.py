"""The sandbox FHIR server over real HTTP (live_server) through the product's own FhirClient."""

from typing import Any

import pytest

from fhirapp.client import FhirClient
from fhirapp.errors import FhirRequestRejected, FhirServerError
from sandbox_ehr.auth.services import access_token_issue
from sandbox_ehr.fhir.faults import fault_clear, fault_inject
from tests.sandbox_fhir.conftest import golden_bundle

pytestmark = pytest.mark.integration


@pytest.fixture
def base(live_server: Any) -> str:
    return f"{live_server.url}/sandbox/fhir"


@pytest.fixture
def client(base: str, transactional_db: None) -> FhirClient:
    return FhirClient(base, token=access_token_issue(client_id="live-tests", scope="system/*.cruds"))


def test_transaction_search_paging_and_read(client: FhirClient, base: str) -> None:
    response = client.transaction(golden_bundle())
    patient = response["entry"][0]["resource"]
    observations = client.search(
        "Observation",
        {"patient": patient["id"], "category": "vital-signs", "date": "ge2024-03-01", "_sort": "date", "_count": "2"},
    )
    assert len(observations) == 6
    dates = [o["effectiveDateTime"] for o in observations]
    assert dates == sorted(dates)
    assert client.read("Patient", patient["id"])["identifier"][0]["value"] == "MRN-A"
    assert client.get("metadata")["resourceType"] == "CapabilityStatement"


def test_errors_reach_the_client_as_operation_outcomes(client: FhirClient, base: str) -> None:
    with pytest.raises(FhirRequestRejected) as rejected:
        client.search("Observation", {"unknown-param": "1"})
    assert rejected.value.upstream_status == 400
    assert rejected.value.extra["operation_outcome"]["resourceType"] == "OperationOutcome"
    with pytest.raises(FhirRequestRejected) as unauthenticated:
        FhirClient(base).search("Patient")
    assert unauthenticated.value.upstream_status == 401


def test_injected_fault_is_a_retryable_server_error(client: FhirClient) -> None:
    fault_inject(status=503, times=1)
    try:
        with pytest.raises(FhirServerError):
            client.request("POST", "Patient", body={"resourceType": "Patient"})
        assert client.request("POST", "Patient", body={"resourceType": "Patient"})["resourceType"] == "Patient"
    finally:
        fault_clear()
