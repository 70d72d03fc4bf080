"""The untrusted appContext: strict form, known card, same patient; otherwise ignored with a notice."""

import uuid

import pytest
from django.utils import timezone

from cds_hooks.models import IssuedCard
from config.keys import pseudonymize
from smart_launch.appcontext import app_context_validate

pytestmark = pytest.mark.django_db


def _card(patient_id: str) -> IssuedCard:
    return IssuedCard.objects.create(
        service_id="stratify-patient-view",
        hook="patient-view",
        hook_instance=str(uuid.uuid4()),
        client_iss="https://ehr.example.org",
        patient_pseudonym=pseudonymize(patient_id),
        model_name="sepsis",
        model_version="1.0.0",
        scored=True,
        probability=0.31,
        band="high",
        indicator="critical",
        summary="Sepsis risk HIGH",
        as_of=timezone.now(),
    )


class AppContextTests:
    def test_own_card_is_kept(self) -> None:
        card = _card("p-1")
        result = app_context_validate(f'{{"card": "{card.uuid}"}}', patient_id="p-1")
        assert result.notice == "" and result.context["card"]["uuid"] == str(card.uuid)
        assert result.context["card"]["band"] == "high"

    def test_card_of_another_patient_is_ignored(self) -> None:
        card = _card("p-2")
        result = app_context_validate(f'{{"card": "{card.uuid}"}}', patient_id="p-1")
        assert result.context == {} and "another patient" in result.notice

    @pytest.mark.parametrize(
        "raw",
        [
            "not json",
            "[]",
            '{"card": 5}',
            '{"card": "not-a-uuid"}',
            f'{{"card": "{uuid.uuid4()}", "x": 1}}',
            f'{{"card": "{uuid.uuid4().hex}"}}',
            "x" * 5000,
            42,
        ],
    )
    def test_malformed_is_ignored(self, raw: object) -> None:
        result = app_context_validate(raw, patient_id="p-1")
        assert result.context == {} and "expected form" in result.notice

    def test_unknown_card_is_ignored(self) -> None:
        result = app_context_validate(f'{{"card": "{uuid.uuid4()}"}}', patient_id="p-1")
        assert result.context == {} and "unknown" in result.notice

    def test_absent_is_silent(self) -> None:
        assert app_context_validate(None, patient_id="p-1").notice == ""
