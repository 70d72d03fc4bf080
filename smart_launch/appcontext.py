"""The untrusted `appContext` of a launch from a CDS card link: strict parsing and an ownership check.

A card's SMART link carries `appContext` = the JSON string `{"card": "<uuid>"}`
(docs/architecture.md#cds-card-to-sidebar). The EHR passes it back verbatim in the token response,
so anything may arrive; we keep it only when it parses, names a card we issued, and that card was
issued for the launched patient.
"""

import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from cds_hooks.selectors import issued_card_get
from config.keys import pseudonymize

MAX_APP_CONTEXT_BYTES = 1024


@dataclass(frozen=True)
class AppContextResult:
    """The validated context (possibly empty) and a notice for the clinician when something was ignored."""

    context: dict[str, Any]
    notice: str = ""


IGNORED = "The link's context was ignored because "


def app_context_validate(raw: Any, *, patient_id: str) -> AppContextResult:
    """Keep `{"card": ...}` only when it is well formed, known, and belongs to `patient_id`."""
    if raw in (None, ""):
        return AppContextResult({})
    card_uuid = _card_uuid(raw)
    if card_uuid is None:
        return AppContextResult({}, IGNORED + "it was not in the expected form.")
    card = issued_card_get(card_uuid=str(card_uuid))
    if card is None:
        return AppContextResult({}, IGNORED + "the card it names is unknown.")
    if _card_pseudonym(card) != pseudonymize(patient_id):
        return AppContextResult({}, IGNORED + "the card it names was issued for another patient.")
    return AppContextResult({"card": _card_summary(card, card_uuid)})


def _card_uuid(raw: Any) -> uuid.UUID | None:
    if not isinstance(raw, str) or len(raw.encode()) > MAX_APP_CONTEXT_BYTES:
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or set(data) != {"card"} or not isinstance(data["card"], str):
        return None
    try:
        parsed = uuid.UUID(data["card"])
    except ValueError:
        return None
    return parsed if str(parsed) == data["card"].lower() else None


def _card_pseudonym(card: Any) -> str:
    return str(getattr(card, "patient_pseudonym", "") or "")


def _card_summary(card: Any, card_uuid: uuid.UUID) -> dict[str, Any]:
    issued_at = getattr(card, "issued_at", None)
    probability = getattr(card, "probability", None)
    return {
        "uuid": str(card_uuid),
        "model_name": str(getattr(card, "model_name", "") or ""),
        "model_version": str(getattr(card, "model_version", "") or ""),
        "band": str(getattr(card, "band", "") or ""),
        "probability": float(probability) if probability is not None else None,
        "issued_at": issued_at.isoformat() if issued_at else None,
    }
