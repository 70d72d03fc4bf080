"""Append audit records to the hash chain: record_hash = sha256(prev_hash || canonical JSON of the record)."""
import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson
from django.db import connection, transaction
from django.utils import timezone

from config.keys import encrypt_text, pseudonymize
from config.request_context import current_request_id
from fhirapp.models import AuditRecord

GENESIS_HASH = "0" * 64
_CHAIN_LOCK_KEY = 0x5354524154  # advisory lock id serialising appends on PostgreSQL
HASHED_FIELDS = (
    "recorded_at", "action", "outcome", "actor", "actor_detail", "purpose_of_use", "patient_pseudonym",
    "patient_ref_encrypted", "model_name", "model_version", "spec_version", "input_digest",
    "output_summary", "detail", "request_id",
)


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON: sorted keys, no whitespace, UTC ISO datetimes."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS)


def record_digest(record: AuditRecord) -> str:
    """The hash a record must carry given its content and prev_hash."""
    content = {name: getattr(record, name) for name in HASHED_FIELDS}
    content["recorded_at"] = _utc_micro(record.recorded_at)
    return hashlib.sha256(record.prev_hash.encode() + canonical_json(content)).hexdigest()


def _utc_micro(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])


def audit_record_create(
    *, action: str, outcome: str = AuditRecord.Outcome.SUCCESS, actor: str = "",
    actor_detail: dict[str, Any] | None = None, purpose_of_use: str = "TREAT",
    patient_id: str | None = None, model_name: str = "", model_version: str = "",
    spec_version: str = "", input_digest: str = "", output_summary: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditRecord:
    """Append one record to the chain; the raw patient id is stored only encrypted (break-glass)."""
    record = AuditRecord(
        recorded_at=timezone.now(), action=action, outcome=outcome, actor=actor[:300],
        actor_detail=actor_detail or {}, purpose_of_use=purpose_of_use,
        patient_pseudonym=pseudonymize(patient_id) if patient_id else "",
        patient_ref_encrypted=encrypt_text(patient_id) if patient_id else "",
        model_name=model_name, model_version=model_version, spec_version=spec_version,
        input_digest=input_digest, output_summary=output_summary or {}, detail=detail or {},
        request_id=current_request_id() if current_request_id() != "-" else "",
    )
    with transaction.atomic():
        _lock_chain()
        last = AuditRecord.objects.order_by("-id").values_list("record_hash", flat=True).first()
        record.prev_hash = last or GENESIS_HASH
        record.record_hash = record_digest(record)
        record.save()
    return record
