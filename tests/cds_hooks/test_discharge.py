"""`stratify-readmission` on encounter-discharge end to end, with the prefetch an EHR would send.

The patient is a real Synthea R4 bundle (shared/data/synthea, an inpatient stay with procedures,
medication orders, laboratory results and HbA1c) loaded into the sandbox FHIR server; each prefetch
key is the sandbox's answer to our own prefetch template, as a CDS client computes it.
"""

from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from audit.models import AuditRecord
from cds_hooks.models import TrustedCdsClient
from cds_hooks.selectors import cds_services, issued_card_get
from fhirapp.fetch import fill_tokens
from sandbox_ehr.auth.services import access_token_issue
from sandbox_ehr.fhir.bundles import bundle_process
from sandbox_ehr.fhir.loader.synthea import (
    as_put_transaction,
    bundle_time_shift,
    bundles_read,
    latest_clinical_datetime,
)
from scoring.features.spec import HBA1C_CODES
from tests.cds_hooks.conftest import TokenFactory
from tests.cds_hooks.test_service import _call, lint_cards

pytestmark = pytest.mark.integration
SYNTHEA = Path(settings.SHARED_DATA) / "synthea" / "synthea_r4_inpatient_bundles.tar.gz"
# Its latest acute-care encounter is an inpatient stay (class IMP) with 2 procedures, a medication
# order and 8 laboratory results; the record holds 10 HbA1c results.
BUNDLE = "bundles/Tiera_Boyle_5d1a252c-b4ea-4686-8577-ce7eac7ec3a0.json"
ENCOUNTER_ID = "ed40a54a-8c15-4d93-ac66-cc3d966b24d3"


@cache
def _synthea_bundle() -> dict[str, Any]:
    """The bundle with every dateTime moved so that the stay ends an hour ago: the hook fires at discharge
    (a stay that ended more than 30 days ago, or a patient who has died, is not scored)."""
    bundle = next(bundle for name, bundle in bundles_read(SYNTHEA) if name == BUNDLE)
    stay = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == ENCOUNTER_ID)
    ended = datetime.fromisoformat(stay["period"]["end"])
    latest = latest_clinical_datetime(bundle)
    assert latest is not None
    # The sandbox loader's shift puts the latest event an hour before its anchor: anchor it so that the stay does.
    return bundle_time_shift(bundle, datetime.now(UTC) + (latest - ended))


def _patient_id(bundle: dict[str, Any]) -> str:
    return next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")


@pytest.fixture
def discharge_prefetch(db: None) -> tuple[str, dict[str, Any]]:
    """(patient id, prefetch): the Synthea patient in the sandbox, each template answered by its FHIR API."""
    bundle = _synthea_bundle()
    bundle_process(bundle=as_put_transaction(bundle), grant=None, base_url="http://testserver/sandbox/fhir")
    patient_id = _patient_id(bundle)
    context = {"userId": "Practitioner/1", "patientId": patient_id, "encounterId": ENCOUNTER_ID}
    token = access_token_issue(client_id="cds-test-ehr", scope="system/*.rs")
    prefetch: dict[str, Any] = {}
    for tpl in cds_services()["stratify-readmission"].templates:
        query = fill_tokens(tpl.template, context)
        response = Client().get(
            f"/sandbox/fhir/{query}", headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
        )
        assert response.status_code == 200, (tpl.key, response.content)
        prefetch[tpl.key] = response.json()
    return patient_id, prefetch


def _body(patient_id: str, prefetch: dict[str, Any] | None, **context: Any) -> dict[str, Any]:
    ctx = {"userId": "Practitioner/1", "patientId": patient_id, "encounterId": ENCOUNTER_ID, **context}
    body: dict[str, Any] = {
        "hook": "encounter-discharge",
        "hookInstance": "d1e2f3",
        "context": {k: v for k, v in ctx.items() if v is not None},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def _entries(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", [])]


@pytest.mark.django_db
def test_discharge_with_full_prefetch_gives_a_linted_readmission_card(
    models_installed: None,
    trusted_client: TrustedCdsClient,
    make_token: TokenFactory,
    discharge_prefetch: tuple[str, dict[str, Any]],
) -> None:
    patient_id, prefetch = discharge_prefetch
    # The prefetch is realistic: every kind of data the model reads, HbA1c and the stay's procedures included.
    assert prefetch["patient"]["id"] == patient_id
    assert ENCOUNTER_ID in {r["id"] for r in _entries(prefetch["encounters"])}
    assert any(r["encounter"]["reference"] == f"Encounter/{ENCOUNTER_ID}" for r in _entries(prefetch["procedures"]))
    assert _entries(prefetch["medications"]) and _entries(prefetch["conditions"]) and _entries(prefetch["labs"])
    assert any(c["code"] in HBA1C_CODES for r in _entries(prefetch["other-observations"]) for c in r["code"]["coding"])

    response = _call(make_token, "stratify-readmission", _body(patient_id, prefetch))
    assert response.status_code == 200, response.content
    [card] = lint_cards(response.json())
    stored = issued_card_get(card_uuid=card["uuid"])
    assert stored is not None
    assert (stored.service_id, stored.hook, stored.model_name, stored.encounter_id) == (
        "stratify-readmission",
        "encounter-discharge",
        "readmission",
        ENCOUNTER_ID,
    )
    assert stored.scored, card  # everything the model reads was prefetched
    assert stored.probability is not None and card["indicator"] == stored.indicator
    assert "| Top drivers |" in card["detail"] and f"Model: readmission {stored.model_version}" in card["detail"]
    assert "procedures" in card["detail"] and "prefetched by the EHR" in card["detail"]
    score = AuditRecord.objects.get(action="score", model_name="readmission")
    assert score.output_summary["scored"] is True


@pytest.mark.django_db
def test_discharge_without_an_encounter_is_an_honest_not_scored_card(
    models_installed: None,
    trusted_client: TrustedCdsClient,
    make_token: TokenFactory,
    discharge_prefetch: tuple[str, dict[str, Any]],
) -> None:
    patient_id, prefetch = discharge_prefetch
    response = _call(make_token, "stratify-readmission", _body(patient_id, {**prefetch, "encounters": None}))
    assert response.status_code == 200
    [card] = lint_cards(response.json())
    assert card["indicator"] == "info" and "not scored" in card["summary"]
    assert "named by the EHR (not in the data received)" in card["summary"]  # context.encounterId, precisely


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("context", "missing"),
    [
        ({"encounterId": None}, "encounterId"),
        ({"encounterId": ""}, "encounterId"),
        ({"patientId": None}, "patientId"),
        ({"userId": None}, "userId"),
    ],
)
def test_discharge_context_is_validated(
    models_installed: None,
    trusted_client: TrustedCdsClient,
    make_token: TokenFactory,
    context: dict[str, Any],
    missing: str,
) -> None:
    response = _call(make_token, "stratify-readmission", _body("p1", {}, **context))
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"message", "code", "extra"}
    assert missing in response.content.decode()


@pytest.mark.django_db
def test_patient_view_request_to_the_discharge_service_is_refused(
    models_installed: None, trusted_client: TrustedCdsClient, make_token: TokenFactory
) -> None:
    body = {**_body("p1", {}), "hook": "patient-view"}
    response = _call(make_token, "stratify-readmission", body)
    assert response.status_code == 400
    assert "encounter-discharge" in response.json()["message"]


@pytest.mark.django_db
def test_a_deceased_patient_gets_a_not_scored_card_that_says_why(
    models_installed: None,
    trusted_client: TrustedCdsClient,
    make_token: TokenFactory,
    discharge_prefetch: tuple[str, dict[str, Any]],
) -> None:
    patient_id, prefetch = discharge_prefetch
    died = (datetime.now(UTC) - timedelta(minutes=30)).isoformat()
    body = _body(patient_id, {**prefetch, "patient": {**prefetch["patient"], "deceasedDateTime": died}})
    response = _call(make_token, "stratify-readmission", body)
    assert response.status_code == 200
    [card] = lint_cards(response.json())
    assert card["indicator"] == "info"
    assert (
        card["summary"]
        == (
            f"30-day readmission risk not scored: Patient deceased {died[:10]}: risk scores are "
            "only for living patients."
        )[:140]
    )
    assert "does not guess missing data" not in card["detail"]  # nothing is missing: the patient has died


@pytest.mark.django_db
@pytest.mark.parametrize(("klass", "words"), [("AMB", "ambulatory"), ("VR", "virtual"), ("HH", "home health")])
def test_an_ambulatory_encounter_is_not_applicable_never_a_score(
    models_installed: None,
    trusted_client: TrustedCdsClient,
    make_token: TokenFactory,
    discharge_prefetch: tuple[str, dict[str, Any]],
    klass: str,
    words: str,
) -> None:
    """A 30-minute check-up the EHR names (class AMB) was scored "LOW: 7%" with "Length of stay 1 days"."""
    patient_id, prefetch = discharge_prefetch
    visits = [
        {**r, "class": {**r["class"], "code": klass}} if r["id"] == ENCOUNTER_ID else r
        for r in _entries(prefetch["encounters"])
    ]
    body = _body(
        patient_id, {**prefetch, "encounters": {**prefetch["encounters"], "entry": [{"resource": r} for r in visits]}}
    )
    response = _call(make_token, "stratify-readmission", body)
    assert response.status_code == 200
    [card] = lint_cards(response.json())
    assert card["indicator"] == "info"
    assert card["summary"] == f"30-day readmission risk not applicable: {words} encounter"
    assert "%" not in card["summary"] and "Top drivers" not in card["detail"]
    stored = issued_card_get(card_uuid=card["uuid"])
    assert stored is not None and not stored.scored and stored.probability is None
