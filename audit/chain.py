"""Verify the audit hash chain and export records as FHIR AuditEvents (NDJSON or a collection Bundle)."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.forms.models import model_to_dict

from audit.fhir import audit_event_build
from audit.models import AuditRecord
from audit.services import GENESIS_HASH, HASHED_FIELDS, record_digest
from config.fhir_json import resource_json


@dataclass(frozen=True)
class ChainBreak:
    """The first record whose link is broken, and why."""

    record_id: int
    reason: str


@dataclass(frozen=True)
class ChainReport:
    """Outcome of a full walk of the chain."""

    checked: int
    broken: ChainBreak | None


def audit_chain_verify(*, chunk_size: int = 2000) -> ChainReport:
    """Walk the chain in id order; the first record whose prev_hash or content hash is wrong breaks it."""
    expected_prev = GENESIS_HASH
    checked = 0
    for record in AuditRecord.objects.order_by("id").iterator(chunk_size=chunk_size):
        checked += 1
        if record.prev_hash != expected_prev:
            return ChainReport(
                checked,
                ChainBreak(
                    record.pk,
                    "prev_hash does not match the previous record's hash (a record was removed, inserted or re-hashed)",
                ),
            )
        if record_digest(record) != record.record_hash:
            return ChainReport(
                checked,
                ChainBreak(record.pk, "record_hash does not match the record's content (the record was changed)"),
            )
        expected_prev = record.record_hash
    return ChainReport(checked, None)


def audit_record_values(record: AuditRecord) -> dict[str, Any]:
    """The fields an AuditEvent is built from (never the encrypted patient reference)."""
    values = model_to_dict(record, fields=[f for f in HASHED_FIELDS if f != "patient_ref_encrypted"])
    values.update(
        id=record.pk, recorded_at=record.recorded_at, prev_hash=record.prev_hash, record_hash=record.record_hash
    )
    return values


def audit_events(*, since: datetime, until: datetime | None = None) -> Iterator[dict[str, Any]]:
    """AuditEvent JSON for every record recorded at or after `since` (and before `until`)."""
    records = AuditRecord.objects.filter(recorded_at__gte=since).order_by("id")
    if until is not None:
        records = records.filter(recorded_at__lt=until)
    for record in records.iterator(chunk_size=2000):
        yield resource_json(audit_event_build(audit_record_values(record)))
