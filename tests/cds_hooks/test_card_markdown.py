"""Card Markdown carries FHIR-derived text only as text: rendered by a real Markdown renderer (markdown-it-py,
permissive as an EHR might be: raw HTML on, linkify on, every link scheme accepted), the EHR's payloads give
no live HTML and no link."""

from datetime import UTC, datetime
from typing import Any

import pytest
from django.conf import settings
from markdown_it import MarkdownIt

from cds_hooks.models import TrustedCdsClient
from cds_hooks.services.cards import link_allowed, not_scored_card, risk_card, unavailable_card
from scoring.types import Driver, ScoreResult
from tests.cds_hooks.conftest import TokenFactory, physionet_stay_resources
from tests.cds_hooks.test_service import _call, _prefetch, _request, lint_cards

AS_OF = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
PAYLOADS = (
    '<img src=x onerror="alert(1)">',
    "<script>alert(document.cookie)</script>",
    "[Open chart](javascript:alert(1))",
    "![x](javascript:alert(1))",
    "<javascript:alert(1)>",
    "see https://evil.example/steal and www.evil.example or evil.example",
    "mail a@evil.example",
    "&lt;img src=x onerror=alert(1)&gt;",
    "| cell | injected |\n# heading\n<iframe src=https://evil.example>",
)


def _render(markdown: str) -> str:
    md = MarkdownIt("gfm-like", {"html": True})
    md.validateLink = lambda url: True  # type: ignore[method-assign]  # an EHR that trusts its Markdown
    return md.render(markdown)


def _assert_inert(markdown: str) -> None:
    html = _render(markdown)
    assert "<a " not in html and "<img" not in html and "<script" not in html and "<iframe" not in html, html
    assert "href=" not in html, html
    assert "<h1>" not in html


def _result(payload: str, **overrides: Any) -> ScoreResult:
    fields: dict[str, Any] = dict(
        model_name="sepsis",
        model_version="1.1.2",
        model_sha256="ab" * 32,
        spec_version="2025.3",
        model_status="active",
        kind="ml",
        title="Sepsis risk",
        as_of=AS_OF,
        scored=True,
        probability=0.4,
        points=None,
        band="high",
        indicator="critical",
        summary="Sepsis risk HIGH",
        horizon_hours=6,
        provider="CPUExecutionProvider",
        reasons=(f"Lactate: ignored values in unknown unit(s) {payload}",),
        drivers=(Driver("lactate_last", payload, 4.1, "mmol/L", 2.0, 0.8, "raises", text=payload, value_text=payload),),
    )
    fields.update(overrides)
    return ScoreResult(**fields)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_every_card_kind_renders_payloads_as_text(payload: str) -> None:
    url = f"{settings.PUBLIC_BASE_URL}/models/sepsis/1.1.2/"
    cards = [
        risk_card(_result(payload), model_card_url=url, data_note=payload),
        not_scored_card(
            _result(
                payload,
                scored=False,
                probability=None,
                band=None,
                indicator="info",
                missing=(payload,),
                stale=(payload,),
            ),
            model_card_url=url,
            data_note=payload,
        ),
        unavailable_card(
            title="Sepsis risk",
            model_name="sepsis",
            model_version="1.1.2",
            model_line="Model.",
            model_card_url=url,
            unavailable={payload: payload},
            budget_ms=400,
            data_note=payload,
        ),
    ]
    for card in cards:
        _assert_inert(card.detail or "")
    html = _render(cards[0].detail or "")
    assert "onerror" in html or "alert" in html or "evil" in html  # the text is still shown, as text


def test_links_only_to_our_own_or_registered_https_hosts(db: None, outbound_allowed: Any) -> None:
    assert link_allowed(f"{settings.PUBLIC_BASE_URL}/models/sepsis/1.1.2/")
    assert not link_allowed("https://evil.example/models/")
    assert not link_allowed("javascript:alert(1)")
    outbound_allowed("https://ehr.example.org")
    assert link_allowed("https://ehr.example.org/launch")
    outbound_allowed("http://ehr.example.net")
    assert not link_allowed("http://ehr.example.net/launch")  # registered, but not https
    card = risk_card(_result("x"), model_card_url="https://evil.example/card", data_note="d")
    assert card.source.url is None


@pytest.mark.django_db
def test_a_unit_payload_in_the_ehrs_data_reaches_the_card_only_as_text(
    models_installed: None, trusted_client: TrustedCdsClient, make_token: TokenFactory
) -> None:
    """End to end: an Observation whose unit is an HTML/Markdown payload, sent in the real prefetch."""
    resources = physionet_stay_resources()
    lactate = max(
        (r for r in resources if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "2524-7"),
        key=lambda r: r["effectiveDateTime"],
    )
    payload = '<img src=x onerror="alert(1)">[x](javascript:alert(1))'
    lactate["valueQuantity"] = {"value": 2.0, "unit": payload, "code": payload}
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    response = _call(make_token, "stratify-sepsis", _request(patient_id, _prefetch(resources)))
    assert response.status_code == 200
    [card] = lint_cards(response.json())
    assert "onerror" in card["detail"], card["detail"]  # the payload did reach the card...
    _assert_inert(card["detail"])  # ...only as text
