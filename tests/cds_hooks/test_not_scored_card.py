"""A not-scored card names each missing or stale input once, and keeps the refusal's other reasons."""

from datetime import UTC, datetime

from django.conf import settings

from cds_hooks.services.cards import not_scored_card
from scoring.models import ModelVersion
from scoring.serving.results import refusal
from scoring.types import ScoreResult

AS_OF = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _refused(**kwargs: object) -> ScoreResult:
    mv = ModelVersion(
        name="news2",
        version="rcp-2017",
        sha256="",
        spec_version="2025.3",
        status="active",
        kind="rule",
        title="NEWS2",
        card={},
    )
    return refusal(mv, AS_OF, "rule", **kwargs)  # type: ignore[arg-type]


def test_each_gap_once_and_other_reasons_kept() -> None:
    result = _refused(missing=("Pulse",), stale=("Temperature",), notes=("Values in unknown units ignored.",))
    assert result.reasons[:2] == ("Required input missing: Pulse.", "Required input too old: Temperature.")  # audit
    detail = (
        not_scored_card(
            result,
            model_card_url=f"{settings.PUBLIC_BASE_URL}/models/news2/rcp-2017/",
            data_note="vital signs prefetched by the EHR.",
        ).detail
        or ""
    )
    assert detail.count("Pulse") == 1 and detail.count("Temperature") == 1
    assert "- Pulse: missing" in detail and "- Temperature: too old to use" in detail
    assert "- Values in unknown units ignored." in detail and "Required input" not in detail


def test_a_refusal_without_gaps_leads_with_its_reason() -> None:
    card = not_scored_card(
        _refused(notes=("Patient deceased 2026-11-20: risk scores are only for living patients.",)),
        model_card_url=f"{settings.PUBLIC_BASE_URL}/m/",
        data_note="d.",
    )
    assert card.summary.startswith("NEWS2 not scored: Patient deceased 2026-11-20")
    assert "does not guess missing data" not in (card.detail or "")
