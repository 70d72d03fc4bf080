"""A risk card states a small calibrated probability as "<1%", never "0%", in its summary and its detail."""

from datetime import UTC, datetime

from django.conf import settings

from cds_hooks.services.cards import risk_card
from scoring.types import ScoreResult

AS_OF = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def test_small_probability_reads_below_one_percent() -> None:
    result = ScoreResult(
        model_name="sepsis",
        model_version="1.1.2",
        model_sha256="ab" * 32,
        spec_version="2025.3",
        model_status="active",
        kind="ml",
        title="Sepsis risk",
        as_of=AS_OF,
        scored=True,
        probability=0.0031,
        points=None,
        band="low",
        indicator="info",
        summary="Sepsis risk LOW: <1% in next 6 h",
        horizon_hours=6,
        provider="CPUExecutionProvider",
    )
    card = risk_card(result, model_card_url=f"{settings.PUBLIC_BASE_URL}/models/sepsis/1.1.2/", data_note="vitals.")
    assert "calibrated probability **<1%** in the next 6 h" in (card.detail or "")
    assert "0%" not in card.summary + (card.detail or "")
