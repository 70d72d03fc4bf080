"""Store CDS Hooks feedback (https://cds-hooks.hl7.org/2.0/#feedback) against the cards we issued."""

from django.db import transaction

from audit.services import audit_record_create
from cds_hooks.errors import IssuedCardNotFound
from cds_hooks.models import CardFeedback, IssuedCard
from cds_hooks.schemas import Feedback, FeedbackRequest
from cds_hooks.selectors import issued_card_get
from cds_hooks.services.calls import json_body
from cds_hooks.trust import CdsCaller
from config.keys import decrypt_text


def feedback_record(*, service_id: str, body: bytes, caller: CdsCaller) -> int:
    """Store every feedback item of the request, or none (an unknown card fails the whole request)."""
    request = FeedbackRequest.model_validate(json_body(body))
    with transaction.atomic():
        for item in request.feedback:
            _store(service_id, item, caller)
    return len(request.feedback)


def _card_for(service_id: str, item: Feedback, caller: CdsCaller) -> IssuedCard:
    """The card this service issued to this client; cards of other services or clients are not found."""
    card = issued_card_get(card_uuid=item.card)
    if card is None or card.service_id != service_id or card.client_iss != caller.iss:
        raise IssuedCardNotFound(extra={"card": item.card[:64]})
    return IssuedCard.objects.select_for_update().get(pk=card.pk)


def _store(service_id: str, item: Feedback, caller: CdsCaller) -> None:
    card = _card_for(service_id, item, caller)
    reason = item.override_reason.reason if item.override_reason else None
    comment = (item.override_reason.user_comment or "") if item.override_reason else ""
    CardFeedback.objects.create(
        card=card,
        outcome=item.outcome,
        reason_system=reason.system[:500] if reason else "",
        reason_code=reason.code[:100] if reason else "",
        reason_display=(reason.display or "")[:200] if reason else "",
        user_comment=comment,
        accepted_suggestions=[s.id for s in item.accepted_suggestions or ()],
        outcome_timestamp=item.outcome_timestamp,
        client_iss=caller.iss,
    )
    if card.outcome_at is None or item.outcome_timestamp >= card.outcome_at:  # the latest outcome counts
        card.outcome, card.outcome_at = item.outcome, item.outcome_timestamp
        card.save(update_fields=["outcome", "outcome_at"])
    audit_record_create(
        action="feedback",
        actor=f"cds:{caller.iss}",
        patient_id=decrypt_text(card.patient_ref_encrypted) if card.patient_ref_encrypted else None,
        model_name=card.model_name,
        model_version=card.model_version,
        output_summary={"card": str(card.uuid), "outcome": item.outcome, "reason": reason.code if reason else ""},
        detail={"service": service_id, "comment_chars": len(comment)},
    )
