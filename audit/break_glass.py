"""Break-glass: an auditor reveals the raw patient reference of audit records; each reveal is audited."""

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from audit.models import AuditRecord
from audit.services import audit_record_create
from config.errors import PermissionDenied
from config.keys import decrypt_text

AUDITOR_GROUP = "auditor"
BREAK_GLASS_PERMISSION = "audit.break_glass_auditrecord"
BREAK_GLASS_LIMIT = 20


def break_glass_allowed(user: Any) -> bool:
    """Only active staff in the auditor group who hold the break-glass permission (superusers too must join)."""
    return bool(
        user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.groups.filter(name=AUDITOR_GROUP).exists()
        and user.has_perm(BREAK_GLASS_PERMISSION)
    )


def break_glass_reveal(*, user: Any, records: Sequence[AuditRecord], reason: str) -> list[tuple[int, str]]:
    """Decrypt the patient reference of each record; one `break_glass` audit record (purpose BTG) per reveal."""
    if not break_glass_allowed(user):
        raise PermissionDenied("Break-glass is restricted to the auditor group.")
    if not reason.strip():
        raise PermissionDenied("Break-glass needs a reason.")
    revealed: list[tuple[int, str]] = []
    with transaction.atomic():
        for record in records:
            patient = decrypt_text(record.patient_ref_encrypted) if record.patient_ref_encrypted else ""
            audit_record_create(
                action="break_glass",
                actor=f"admin:{user.get_username()}",
                actor_detail={"user_id": user.pk},
                purpose_of_use="BTG",
                patient_id=patient or None,
                detail={"audit_record_id": record.pk, "reason": reason.strip()[:500]},
            )
            revealed.append((record.pk, patient))
    return revealed
