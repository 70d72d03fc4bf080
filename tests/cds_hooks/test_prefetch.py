"""Prefetch-or-fetch matrix of the one patient-data path (`fhirapp.fetch.snapshot_fetch`) (https://cds-hooks.hl7.org/2.0/#providing-fhir-resources-to-a-cds-service).

Fetching goes over real HTTP to the sandbox FHIR server under live_server, holding data written
through its API (real PhysioNet rows converted by the sandbox loader).
"""

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from config.errors import FhirDataUnavailable
from fhirapp.client import FhirClient
from fhirapp.fetch import FhirQuery, fill_tokens, snapshot_fetch
from fhirapp.snapshot import PatientSnapshot
from tests.cds_hooks.conftest import SandboxPatient

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

P = "{{context.patientId}}"
TEMPLATES = (
    FhirQuery("patient", f"Patient/{P}", "patient demographics"),
    FhirQuery(
        "vitals",
        f"Observation?patient={P}&category=vital-signs&_sort=-date&_count=1000",
        "vital signs",
        lookback_hours=24,
    ),
    FhirQuery(
        "labs",
        f"Observation?patient={P}&category=laboratory&_sort=-date&_count=1000",
        "laboratory results",
        lookback_hours=72,
    ),
)


def _bundle(resources: list[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def _split(p: SandboxPatient) -> dict[str, Any]:
    def category(r: dict[str, Any]) -> str:
        return r["category"][0]["coding"][0]["code"]

    obs = [r for r in p.resources if r["resourceType"] == "Observation"]
    return {
        "patient": next(r for r in p.resources if r["resourceType"] == "Patient"),
        "vitals": _bundle([r for r in obs if category(r) == "vital-signs"]),
        "labs": _bundle([r for r in obs if category(r) == "laboratory"]),
    }


def _resolve(
    p: SandboxPatient, prefetch: dict[str, Any] | None, *, client: bool = True, budget_s: float = 5.0
) -> PatientSnapshot:
    return snapshot_fetch(
        plan=TEMPLATES,
        patient_id=p.patient_id,
        context={"patientId": p.patient_id, "userId": "Practitioner/1"},
        prefetch=prefetch,
        client=FhirClient(p.fhir_base, p.token) if client else None,
        deadline=time.monotonic() + budget_s,
        as_of=datetime.now(UTC),
    )


def _ids(resources: list[dict[str, Any]]) -> set[str]:
    return {f"{r['resourceType']}/{r['id']}" for r in resources}


def _expected(p: SandboxPatient) -> set[str]:
    return _ids([r for r in p.resources if r["resourceType"] in ("Patient", "Observation")])


def test_fill_tokens() -> None:
    assert fill_tokens(f"Observation?patient={P}&x=1", {"patientId": "7"}) == "Observation?patient=7&x=1"
    assert fill_tokens("Encounter/{{context.encounterId}}", {"patientId": "7"}) is None


def test_full_prefetch_needs_no_server(sandbox_patient: SandboxPatient) -> None:
    data = _resolve(sandbox_patient, _split(sandbox_patient), client=False)
    assert data.sources == {"patient": "prefetch", "vitals": "prefetch", "labs": "prefetch"}
    assert _ids(data.resources) == _expected(sandbox_patient)


def test_missing_key_is_fetched(sandbox_patient: SandboxPatient) -> None:
    prefetch = _split(sandbox_patient)
    del prefetch["labs"]
    data = _resolve(sandbox_patient, prefetch)
    assert data.sources["labs"] == "fetched" and not data.unavailable
    assert _ids(data.resources) == _expected(sandbox_patient)


def test_null_means_no_data_and_is_not_fetched(sandbox_patient: SandboxPatient) -> None:
    prefetch = {**_split(sandbox_patient), "labs": None}
    data = _resolve(sandbox_patient, prefetch, client=False)
    assert data.sources["labs"] == "prefetch-null"
    assert not any(
        r["resourceType"] == "Observation" and r["category"][0]["coding"][0]["code"] == "laboratory"
        for r in data.resources
    )


def test_operation_outcome_is_refetched(sandbox_patient: SandboxPatient) -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout", "diagnostics": "search timed out"}],
    }
    data = _resolve(sandbox_patient, {**_split(sandbox_patient), "vitals": outcome})
    assert data.sources["vitals"] == "fetched"
    assert _ids(data.resources) == _expected(sandbox_patient)


def test_paged_bundle_is_completed(sandbox_patient: SandboxPatient) -> None:
    reader = FhirClient(sandbox_patient.fhir_base, sandbox_patient.token)
    first_page = reader.search_url(f"Observation?patient={sandbox_patient.patient_id}&category=vital-signs&_count=5")
    assert any(link["relation"] == "next" for link in first_page["link"])
    data = _resolve(sandbox_patient, {**_split(sandbox_patient), "vitals": first_page})
    assert data.sources["vitals"] == "prefetch+fetched"
    assert _ids(data.resources) == _expected(sandbox_patient)


def test_paged_bundle_without_server_access_is_noted_incomplete(sandbox_patient: SandboxPatient) -> None:
    reader = FhirClient(sandbox_patient.fhir_base, sandbox_patient.token)
    first_page = reader.search_url(f"Observation?patient={sandbox_patient.patient_id}&category=vital-signs&_count=5")
    data = _resolve(sandbox_patient, {**_split(sandbox_patient), "vitals": first_page}, client=False)
    assert data.incomplete == ["vitals"]


def test_no_prefetch_everything_fetched_over_http(sandbox_patient: SandboxPatient) -> None:
    data = _resolve(sandbox_patient, None)
    assert set(data.sources.values()) == {"fetched"}
    assert _ids(data.resources) == _expected(sandbox_patient)


def test_no_prefetch_and_no_authorization_is_412(sandbox_patient: SandboxPatient) -> None:
    with pytest.raises(FhirDataUnavailable) as info:
        _resolve(sandbox_patient, {"patient": _split(sandbox_patient)["patient"]}, client=False)
    assert info.value.status_code == 412
    assert info.value.extra == {"prefetch_missing": ["labs", "vitals"]}


def test_slow_server_makes_keys_unavailable_instead_of_hanging(slow_fhir_server: str) -> None:
    data = snapshot_fetch(
        plan=TEMPLATES,
        patient_id="p1",
        context={"patientId": "p1"},
        prefetch=None,
        client=FhirClient(slow_fhir_server, "token"),
        deadline=time.monotonic() + 0.3,
        as_of=datetime.now(UTC),
    )
    assert set(data.unavailable) == {"patient", "vitals", "labs"}
    assert not data.resources
