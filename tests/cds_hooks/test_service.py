"""CDS services end to end: discovery, patient-view calls (prefetch, fetch over HTTP, 412, degraded), card lint."""

import gc
import uuid
from typing import Any

import orjson
import pytest
from django.test import Client

from audit.models import AuditRecord
from cds_hooks.models import CdsServiceSetting, TrustedCdsClient
from cds_hooks.schemas import CdsResponse, DiscoveryResponse
from cds_hooks.selectors import cds_catalogue_reset, issued_card_get, service_id_for
from cds_hooks.services.cards import OVERRIDE_REASONS, override_reason_system
from scoring.selectors import model_card_url
from tests.cds_hooks.conftest import SandboxPatient, TokenFactory, fhir_server_trust, physionet_stay_resources

pytestmark = pytest.mark.integration
INDICATORS = {"info", "warning", "critical"}


# --- helpers ---------------------------------------------------------------------------------------


def _bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def _prefetch(resources: list[dict[str, Any]]) -> dict[str, Any]:
    def of(kind: str, category: str | None = None) -> list[dict[str, Any]]:
        return [
            r
            for r in resources
            if r["resourceType"] == kind and (category is None or r["category"][0]["coding"][0]["code"] == category)
        ]

    return {
        "patient": of("Patient")[0],
        "vitals": _bundle(of("Observation", "vital-signs")),
        "labs": _bundle(of("Observation", "laboratory")),
        "encounters": _bundle(of("Encounter")),
        "other-observations": None,
    }


def _request(patient_id: str, prefetch: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/123", "patientId": patient_id},
        **extra,
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def _call(make_token: TokenFactory, service: str, body: dict[str, Any], client: Any = None) -> Any:
    path = f"/cds-services/{service}"
    return (client or Client()).post(
        path, data=orjson.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {make_token(path)}"
    )


def _stored(card: dict[str, Any]) -> Any:
    stored = issued_card_get(card_uuid=card["uuid"])
    assert stored is not None
    return stored


def assert_no_null_or_empty(value: Any, where: str = "$") -> None:
    """Spec "Null and empty JSON elements": nothing null, "", [] or {} (except the top-level cards array)."""
    if isinstance(value, dict):
        assert value, f"empty object at {where}"
        for key, item in value.items():
            assert_no_null_or_empty(item, f"{where}.{key}")
    elif isinstance(value, list):
        assert value, f"empty array at {where}"
        for i, item in enumerate(value):
            assert_no_null_or_empty(item, f"{where}[{i}]")
    else:
        assert value is not None and value != "", f"null or empty at {where}"


def lint_cards(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Our card rules on a response body; returns its cards."""
    CdsResponse.model_validate(payload)
    for card in payload["cards"]:
        assert_no_null_or_empty(card)
        uuid.UUID(card["uuid"])
        assert len(card["summary"]) < 140
        assert card["indicator"] in INDICATORS
        assert card["source"]["url"].startswith("http")
        smart = [link for link in card["links"] if link["type"] == "smart"]
        assert len(smart) == 1 and orjson.loads(smart[0]["appContext"]) == {"card": card["uuid"]}
        assert smart[0]["url"].endswith("/smart/launch")
    return list(payload["cards"])


# --- discovery -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_discovery_lists_one_service_per_model_and_hook(models_installed: None) -> None:
    response = Client().get("/cds-services")
    assert response.status_code == 200
    body = response.json()
    DiscoveryResponse.model_validate(body)
    assert_no_null_or_empty(body)
    services = {s["id"]: s for s in body["services"]}
    assert {
        "stratify-sepsis",
        "stratify-news2",
        "stratify-qsofa",
        "stratify-readmission",
        "stratify-readmission-patient-view",
    } <= set(services)
    assert services["stratify-readmission"]["hook"] == "encounter-discharge"
    assert "procedures" in services["stratify-readmission"]["prefetch"]
    sepsis = services["stratify-sepsis"]
    assert sepsis["hook"] == "patient-view"
    assert sepsis["prefetch"]["patient"] == "Patient/{{context.patientId}}"
    assert "category=vital-signs" in sepsis["prefetch"]["vitals"]
    assert "category=laboratory" in sepsis["prefetch"]["labs"]
    assert sepsis["prefetch"]["encounters"].startswith("Encounter?patient={{context.patientId}}")
    model = sepsis["extension"]["org.stratify.model"]
    assert model["name"] == "sepsis" and len(model["sha256"]) == 64 and model["version"]
    assert "sha256" not in services["stratify-news2"]["extension"]["org.stratify.model"]  # a rule score


def test_service_ids() -> None:
    assert service_id_for("sepsis", "patient-view") == "stratify-sepsis"
    assert service_id_for("readmission", "encounter-discharge") == "stratify-readmission"
    assert service_id_for("readmission", "patient-view") == "stratify-readmission-patient-view"


@pytest.mark.django_db
def test_disabled_service_leaves_discovery_and_answers_404(
    models_installed: None, trusted_client: TrustedCdsClient, make_token: TokenFactory
) -> None:
    CdsServiceSetting.objects.create(service_id="stratify-qsofa", enabled=False)
    cds_catalogue_reset()
    assert "stratify-qsofa" not in {s["id"] for s in Client().get("/cds-services").json()["services"]}
    response = _call(make_token, "stratify-qsofa", _request("p1", {}))
    assert response.status_code == 404 and response.json()["code"] == "cds_service_not_found"


# --- calls with prefetch ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("service", ["stratify-sepsis", "stratify-news2"])
def test_full_prefetch_gives_a_linted_risk_card(
    models_installed: None, trusted_client: TrustedCdsClient, make_token: TokenFactory, service: str
) -> None:
    resources = physionet_stay_resources()
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    response = _call(make_token, service, _request(patient_id, _prefetch(resources)))
    assert response.status_code == 200, response.content
    assert gc.isenabled()  # the call's pause of the collector ended when the answer was sent (closed)
    [card] = lint_cards(response.json())
    stored = issued_card_get(card_uuid=card["uuid"])
    assert stored is not None and stored.service_id == service and stored.indicator == card["indicator"]
    assert card["source"]["url"] == model_card_url(stored.model_name, stored.model_version)
    assert AuditRecord.objects.filter(action="card_issued", output_summary__card=card["uuid"]).exists()
    assert AuditRecord.objects.filter(action="score", model_name=stored.model_name).exists()
    if stored.scored:
        assert card["overrideReasons"] == [
            {"system": override_reason_system(), "code": code, "display": display} for code, display in OVERRIDE_REASONS
        ]
        assert f"Model: {stored.model_name} {stored.model_version}" in card["detail"]
        assert "| Top drivers |" in card["detail"] and "Data freshness" in card["detail"]
        if service == "stratify-news2":  # PhysioNet records no consciousness level: the lower bound is explained
            assert "**Notes:**" in card["detail"]
            assert "Level of consciousness not recorded: scored as alert" in card["detail"]
    else:
        assert card["indicator"] == "info" and "not scored" in card["summary"]


@pytest.mark.django_db
def test_missing_data_gives_a_not_scored_info_card(
    models_installed: None, trusted_client: TrustedCdsClient, make_token: TokenFactory
) -> None:
    resources = physionet_stay_resources()
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    prefetch = {**_prefetch(resources), "vitals": None, "labs": None}  # the EHR has no observations
    response = _call(make_token, "stratify-news2", _request(patient_id, prefetch))
    assert response.status_code == 200
    [card] = lint_cards(response.json())
    assert card["indicator"] == "info" and "not scored" in card["summary"]
    assert _stored(card).scored is False


@pytest.mark.django_db
def test_scored_result_enqueues_write_back(
    models_installed: None,
    trusted_client: TrustedCdsClient,
    make_token: TokenFactory,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from fhirapp.models import WriteBack

    settings.WRITEBACK_ENABLED = True
    resources = physionet_stay_resources()
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    body = _request(patient_id, _prefetch(resources), fhirServer="https://ehr.example.org/fhir")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:  # enqueued, never sent off this host
        response = _call(make_token, "stratify-news2", body)
    assert len(callbacks) == 1
    [card] = lint_cards(response.json())
    assert _stored(card).scored
    write_back = WriteBack.objects.get()
    assert (write_back.service_id, write_back.fhir_base_url, write_back.model_name) == (
        "stratify-news2",
        "https://ehr.example.org/fhir",
        "news2",
    )


@pytest.mark.django_db
def test_not_scored_can_return_no_card(
    models_installed: None, trusted_client: TrustedCdsClient, make_token: TokenFactory
) -> None:
    CdsServiceSetting.objects.create(service_id="stratify-news2", not_scored="none")
    resources = physionet_stay_resources()
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    response = _call(
        make_token, "stratify-news2", _request(patient_id, {**_prefetch(resources), "vitals": None, "labs": None})
    )
    assert response.status_code == 200 and response.json() == {"cards": []}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "status"),
    [
        (
            {
                "hook": "encounter-discharge",
                "hookInstance": "x",
                "context": {"userId": "u", "patientId": "p", "encounterId": "e"},
            },
            400,
        ),
        ({"hook": "patient-view", "hookInstance": "x", "context": {"userId": "u"}}, 400),  # no patientId
        ({"hook": "patient-view", "context": {"userId": "u", "patientId": "p"}}, 400),  # no hookInstance
        ({"hook": "patient-view", "hookInstance": "x", "context": {"userId": "u", "patientId": "p"}}, 412),
    ],
)
def test_bad_requests(
    models_installed: None,
    trusted_client: TrustedCdsClient,
    make_token: TokenFactory,
    body: dict[str, Any],
    status: int,
) -> None:
    response = _call(make_token, "stratify-sepsis", body)
    assert response.status_code == status
    assert set(response.json()) == {"message", "code", "extra"}


@pytest.mark.django_db
def test_invalid_json_and_unknown_service(
    models_installed: None, trusted_client: TrustedCdsClient, make_token: TokenFactory
) -> None:
    path = "/cds-services/stratify-sepsis"
    response = Client().post(
        path, data=b"{not json", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {make_token(path)}"
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert _call(make_token, "stratify-nothing", _request("p")).status_code == 404


# --- fetched over HTTP from the sandbox EHR ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_no_prefetch_fetches_from_the_sandbox_fhir_server(
    models_installed: None,
    trusted_client: TrustedCdsClient,
    make_token: TokenFactory,
    sandbox_patient: SandboxPatient,
    settings: Any,
) -> None:
    settings.WRITEBACK_ENABLED = False  # this test is about fetching; write-back has its own tests
    fhir_server_trust(sandbox_patient.fhir_base)
    body = _request(
        sandbox_patient.patient_id,
        fhirServer=sandbox_patient.fhir_base,
        fhirAuthorization={
            "access_token": sandbox_patient.token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.rs",
            "subject": "stratify-cds",
        },
    )
    response = _call(make_token, "stratify-news2", body)
    assert response.status_code == 200, response.content
    [card] = lint_cards(response.json())
    assert "fetched from the EHR's FHIR server" in card["detail"]
    assert _stored(card).scored is True  # 12 h of real vitals: NEWS2 scores


@pytest.mark.django_db
def test_slow_fhir_server_degrades_to_an_info_card(
    models_installed: None,
    trusted_client: TrustedCdsClient,
    make_token: TokenFactory,
    slow_fhir_server: str,
    settings: Any,
) -> None:
    settings.CDS_CALL_BUDGET_MS = 300
    resources = physionet_stay_resources()
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    prefetch = _prefetch(resources)
    del prefetch["labs"]
    fhir_server_trust(slow_fhir_server)
    body = _request(
        patient_id,
        prefetch,
        fhirServer=slow_fhir_server,
        fhirAuthorization={
            "access_token": "t",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.rs",
            "subject": "s",
        },
    )
    response = _call(make_token, "stratify-sepsis", body)
    assert response.status_code == 200
    [card] = lint_cards(response.json())
    assert card["indicator"] == "info"
    # The card names the real cause (it always said "not available within N ms" before).
    assert "laboratory results unavailable (the EHR did not answer before the call's deadline)" in card["summary"]
    assert "300 ms" in card["detail"]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_refused_token_is_named_on_the_card(
    models_installed: None, trusted_client: TrustedCdsClient, make_token: TokenFactory, sandbox_patient: SandboxPatient
) -> None:
    fhir_server_trust(sandbox_patient.fhir_base)
    prefetch = _prefetch(sandbox_patient.resources)
    del prefetch["labs"]
    body = _request(
        sandbox_patient.patient_id,
        prefetch,
        fhirServer=sandbox_patient.fhir_base,
        fhirAuthorization={
            "access_token": "not-a-token-the-ehr-issued",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.rs",
            "subject": "s",
        },
    )
    [card] = lint_cards(_call(make_token, "stratify-sepsis", body).json())
    assert card["indicator"] == "info"
    assert "the EHR refused our access token (HTTP 401)" in card["summary"], card["summary"]


def test_prefetch_templates_follow_the_model_inputs() -> None:
    from fhirapp.fetch import fetch_plan
    from scoring.catalogue import definition_of

    requirements = definition_of("readmission").requirements
    templates = {t.key: t for t in fetch_plan([requirements])}
    assert set(templates) == {
        "patient",
        "labs",
        "other-observations",
        "encounters",
        "conditions",
        "medications",
        "procedures",
    }
    assert "code=4548-4" in templates["other-observations"].template  # HbA1c has no PhysioNet category
    assert templates["labs"].lookback_hours == requirements.lookback_hours
    assert templates["conditions"].template == "Condition?patient={{context.patientId}}"
