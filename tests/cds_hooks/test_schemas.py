"""The CDS Hooks 2.0 schemas against the specification's own examples, and our no-null/no-empty rules."""

import json
import re
from pathlib import Path
from typing import Any

import pydantic
import pytest
from pydantic import TypeAdapter

from cds_hooks import schemas as s
from cds_hooks.schemas.common import NonEmptyStr, ResponseModel

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "cds-hooks-spec-examples"  # vendored, Apache-2.0 (SOURCE.md)


def _load(name: str) -> Any:
    """A spec example: JSON, a bare `"context": {...}` member, or an HTTP line followed by a body."""
    text = (EXAMPLES / name).read_text()
    text = re.sub(r"^(POST|GET) .*$", "", text, flags=re.MULTILINE)
    text = re.sub(r"//[^\n\"]*$", "", text, flags=re.MULTILINE)  # a comment in feedback-overridden
    text = text.strip()
    return json.loads("{" + text + "}" if text.startswith('"') else text)


# Each example and the model that must accept it (the file's JSON or one member of it).
PARSES: dict[str, tuple[Any, str | None]] = {
    "cards-response-example-2.json": (s.CdsResponse, None),
    "cards-response.json": (s.CdsResponse, None),
    "context-encounter-start.txt": (s.EncounterStartContext, "context"),
    "context-order-select-r4.json": (s.OrderSelectContext, "context"),
    "context-order-sign-r4.json": (s.OrderSignContext, "context"),
    "context-patient-view-with-encounter.txt": (s.PatientViewContext, "context"),
    "context-patient-view.txt": (s.PatientViewContext, "context"),
    "discovery-response-with-extension.json": (s.DiscoveryResponse, None),
    "discovery-response.json": (s.DiscoveryResponse, None),
    "feedback-accepted.txt": (s.FeedbackRequest, None),
    "feedback-overridden-with-reason.txt": (s.FeedbackRequest, None),
    "feedback-overridden.txt": (s.FeedbackRequest, None),
    "fhirAuthorization.json": (s.FhirAuthorization, "fhirAuthorization"),
    "prefetch-data.json": (TypeAdapter(dict[str, Any] | None), "prefetch"),  # CdsRequest.prefetch
    "prefetch-template.json": (TypeAdapter(dict[str, NonEmptyStr]), "prefetch"),
    "prefetch-templates.json": (TypeAdapter(dict[str, NonEmptyStr]), "prefetch"),
    "request-patient-view-with-extension.json": (s.CdsRequest, None),
    "request-patient-view-with-prefetch.json": (s.CdsRequest, None),
    "request-patient-view.json": (s.CdsRequest, None),
}
# Four (older quickstart or abridged) examples break the spec's own rules; our strict response models
# (extra="forbid", REQUIRED fields required) must refuse them, each for exactly that reason.
SPEC_VIOLATIONS: dict[str, tuple[Any, str]] = {
    "cards-response-example-3.json": (s.CdsResponse, "cards.0.indicator"),  # no indicator (REQUIRED)
    "cards-response-quickstart.json": (s.CdsResponse, "cards.0.indicator"),  # "success": not info|warning|critical
    "system-actions-response.json": (s.CdsResponse, "systemActions.0.description"),  # no description (REQUIRED)
    "discovery-response-quickstart.json": (s.DiscoveryResponse, "services.0.name"),  # pre-1.0 `name` field
}


def test_every_example_is_covered() -> None:
    names = {p.name for p in EXAMPLES.iterdir() if p.name != "SOURCE.md"}
    assert names == set(PARSES) | set(SPEC_VIOLATIONS)


@pytest.mark.parametrize("name", sorted(PARSES))
def test_spec_example_parses(name: str) -> None:
    model, member = PARSES[name]
    data = _load(name)
    value = data[member] if member else data
    parsed = model.validate_python(value) if isinstance(model, TypeAdapter) else model.model_validate(value)
    if isinstance(parsed, ResponseModel) and name.startswith(("cards", "discovery")):
        assert parsed.to_json() == value  # response models round-trip the spec's JSON exactly


@pytest.mark.parametrize("name", sorted(SPEC_VIOLATIONS))
def test_spec_example_breaking_a_required_rule_is_refused(name: str) -> None:
    model, loc = SPEC_VIOLATIONS[name]
    with pytest.raises(pydantic.ValidationError) as info:
        model.model_validate(_load(name))
    assert loc in {".".join(str(p) for p in e["loc"][:3]) for e in info.value.errors()}


def test_request_models_ignore_unknown_fields() -> None:
    request = s.CdsRequest.model_validate(
        {"hook": "patient-view", "hookInstance": "x", "context": {}, "com.vendor.extra": 1}
    )
    assert not hasattr(request, "com.vendor.extra")


def test_fhir_authorization_needs_fhir_server() -> None:
    with pytest.raises(pydantic.ValidationError, match="fhirServer is required"):
        s.CdsRequest.model_validate(
            {
                "hook": "patient-view",
                "hookInstance": "x",
                "context": {},
                "fhirAuthorization": _load("fhirAuthorization.json")["fhirAuthorization"],
            }
        )


@pytest.mark.parametrize(
    "card",
    [
        {"summary": "", "indicator": "info", "source": {"label": "x"}},  # empty string
        {"summary": "x" * 140, "indicator": "info", "source": {"label": "x"}},  # not under 140
        {"summary": "x", "indicator": "info", "source": {"label": "x"}, "links": []},  # empty array
        {"summary": "x", "indicator": "info", "source": {"label": "x"}, "extra": 1},  # unknown field
        {"summary": "x", "indicator": "hard-stop", "source": {"label": "x"}},
        {
            "summary": "x",
            "indicator": "info",
            "source": {"label": "x"},
            "links": [{"label": "a", "url": "https://a", "type": "absolute", "appContext": "{}"}],
        },
        {"summary": "x", "indicator": "info", "source": {"label": "x"}, "suggestions": [{"label": "s"}]},
        {
            "summary": "x",
            "indicator": "info",
            "source": {"label": "x"},
            "overrideReasons": [{"code": "c", "system": "https://s"}],
        },  # display REQUIRED on override reasons
    ],
)
def test_card_rules(card: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        s.Card.model_validate(card)


def test_no_nulls_are_emitted() -> None:
    card = s.Card(summary="x", indicator="info", source=s.Source(label="Stratify"))
    assert card.to_json() == {"summary": "x", "indicator": "info", "source": {"label": "Stratify"}}
