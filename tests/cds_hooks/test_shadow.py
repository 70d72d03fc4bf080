"""Shadow model versions on CDS calls: scored and audited on the same data, never a card, never written back."""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings

from audit.models import AuditRecord
from cds_hooks.models import IssuedCard, TrustedCdsClient
from fhirapp.models import WriteBack
from scoring.models import ModelVersion
from scoring.services_registry import model_register
from tests.cds_hooks.conftest import TokenFactory, physionet_stay_resources
from tests.cds_hooks.test_service import _call, _prefetch, _request, lint_cards

pytestmark = pytest.mark.integration
SHADOW_VERSION = "1.0.0-shadow-test"


@pytest.fixture
def sepsis_shadow(models_installed: None, tmp_path: Path) -> ModelVersion:
    """A copy of the shipped sepsis artifact registered as a second version with status shadow."""
    active = ModelVersion.objects.get(name="sepsis", status="active")
    folder = tmp_path / "sepsis-shadow"
    shutil.copytree(Path(django_settings.BASE_DIR) / active.artifact_path, folder)
    card = json.loads((folder / "card.json").read_text())
    card["version"] = SHADOW_VERSION
    (folder / "card.json").write_text(json.dumps(card))
    return model_register(artifact_dir=str(folder), registered_by="test", status="shadow")


@pytest.mark.django_db
def test_shadow_version_is_scored_and_audited_but_never_shown(
    sepsis_shadow: ModelVersion,
    trusted_client: TrustedCdsClient,
    make_token: TokenFactory,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.WRITEBACK_ENABLED = True
    active = ModelVersion.objects.get(name="sepsis", status="active")
    assert sepsis_shadow.status == "shadow" and active.version != SHADOW_VERSION
    resources = physionet_stay_resources()
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    body = _request(patient_id, _prefetch(resources), fhirServer="https://ehr.example.org/fhir")
    with django_capture_on_commit_callbacks(execute=False):  # the write-back task never leaves this process
        response = _call(make_token, "stratify-sepsis", body)
    assert response.status_code == 200, response.content
    [card] = lint_cards(response.json())  # one card: the active version's

    issued = IssuedCard.objects.get(uuid=card["uuid"])
    assert issued.model_version == active.version
    assert not IssuedCard.objects.filter(model_version=SHADOW_VERSION).exists()
    scores = {r.model_version: r for r in AuditRecord.objects.filter(action="score", model_name="sepsis")}
    assert set(scores) == {active.version, SHADOW_VERSION}
    assert scores[SHADOW_VERSION].output_summary["status"] == "shadow"
    # Same artifact, same data: the shadow's inference matches the served one.
    assert scores[SHADOW_VERSION].input_digest == scores[active.version].input_digest
    assert scores[SHADOW_VERSION].output_summary["probability"] == scores[active.version].output_summary["probability"]
    assert not AuditRecord.objects.filter(action="card_issued", model_version=SHADOW_VERSION).exists()
    assert list(WriteBack.objects.values_list("model_version", flat=True)) == (
        [active.version] if issued.scored else []
    )


@pytest.mark.django_db
def test_without_shadow_only_the_active_version_is_scored(
    models_installed: None, trusted_client: TrustedCdsClient, make_token: TokenFactory
) -> None:
    resources = physionet_stay_resources()
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    response = _call(make_token, "stratify-sepsis", _request(patient_id, _prefetch(resources)))
    assert response.status_code == 200
    assert AuditRecord.objects.filter(action="score", model_name="sepsis").count() == 1
