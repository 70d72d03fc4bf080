"""Append audit records to the keyed hash chain: record_hash = HMAC-SHA256(AUDIT_CHAIN_KEY, prev_hash || canonical
JSON of the record). The key stays in the environment, so rows rewritten in the database cannot be re-chained."""

import hashlib
import hmac
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson
from django.db import connection, transaction
from django.utils import timezone

from audit.models import AppendOnlyError, AuditRecord
from config.keys import audit_chain_key, encrypt_text, pseudonymize
from config.request_context import current_request_id

GENESIS_HASH = "0" * 64
_CHAIN_LOCK_KEY = 0x5354524154  # advisory lock id serialising appends on PostgreSQL
_ACTIONS, _OUTCOMES = frozenset(AuditRecord.Action.values), frozenset(AuditRecord.Outcome.values)  # built once
HASHED_FIELDS = (
    "recorded_at",
    "action",
    "outcome",
    "actor",
    "actor_detail",
    "purpose_of_use",
    "patient_pseudonym",
    "patient_ref_encrypted",
    "model_name",
    "model_version",
    "spec_version",
    "input_digest",
    "output_summary",
    "detail",
    "request_id",
)


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON: sorted keys, no whitespace, UTC ISO datetimes."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS)


def record_content(record: Any) -> bytes:
    """prev_hash || canonical JSON of the hashed fields: what a record's hash covers."""
    content = {name: getattr(record, name) for name in HASHED_FIELDS}
    content["recorded_at"] = _utc_micro(record.recorded_at)
    return record.prev_hash.encode() + canonical_json(content)


def record_digest(record: AuditRecord) -> str:
    """The hash a record must carry given its content and prev_hash (keyed: HMAC-SHA256)."""
    return hmac.new(audit_chain_key(), record_content(record), hashlib.sha256).hexdigest()


def _utc_micro(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])


def _build(
    *,
    action: str,
    outcome: str = AuditRecord.Outcome.SUCCESS,
    actor: str = "",
    actor_detail: dict[str, Any] | None = None,
    purpose_of_use: str = "TREAT",
    patient_id: str | None = None,
    model_name: str = "",
    model_version: str = "",
    spec_version: str = "",
    input_digest: str = "",
    output_summary: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditRecord:
    if action not in _ACTIONS or outcome not in _OUTCOMES:
        raise ValueError(f"unknown audit action {action!r} or outcome {outcome!r}: add it to AuditRecord's choices")
    return AuditRecord(
        recorded_at=timezone.now(),
        action=action,
        outcome=outcome,
        actor=actor[:300],
        actor_detail=actor_detail or {},
        purpose_of_use=purpose_of_use,
        patient_pseudonym=pseudonymize(patient_id) if patient_id else "",
        patient_ref_encrypted=encrypt_text(patient_id) if patient_id else "",
        model_name=model_name,
        model_version=model_version,
        spec_version=spec_version,
        input_digest=input_digest,
        output_summary=output_summary or {},
        detail=detail or {},
        request_id=current_request_id() if current_request_id() != "-" else "",
    )


def _append(records: Sequence[AuditRecord]) -> None:
    """Chain and save `records` in order: one transaction, one chain lock, one read of the last hash."""
    if not records:
        return
    # savepoint=False: inside a caller's transaction (the CDS call) a failed append fails that whole
    # transaction anyway, so a savepoint only cost two round trips; one INSERT for the batch.
    with transaction.atomic(savepoint=False):
        _lock_chain()
        last = AuditRecord.objects.order_by("-id").values_list("record_hash", flat=True).first()
        prev = last or GENESIS_HASH
        for record in records:
            if record.pk is not None:
                raise AppendOnlyError("Audit records are append-only.")
            record.prev_hash = prev
            record.record_hash = prev = record_digest(record)
        AuditRecord.objects.bulk_create(records)


class AuditBatch:
    """Audit records collected by `audit_batch()`, written together by `flush()` (see there)."""

    def __init__(self) -> None:
        self.pending: list[AuditRecord] = []
        self.writes: list[Callable[[], object]] = []  # other writes that belong with the records (`audit_along`)

    def discard_from(self, index: int) -> None:
        """Drop the records collected since `len(pending)` was `index` (events whose transaction rolled back)."""
        del self.pending[index:]

    def flush(self) -> None:
        """Write the collected records now (inside the caller's transaction, if any), in order."""
        records, self.pending = self.pending, []
        writes, self.writes = self.writes, []
        for write in writes:
            write()
        _append(records)


_batch: ContextVar[AuditBatch | None] = ContextVar("audit_batch", default=None)


@contextmanager
def audit_batch() -> Iterator[AuditBatch]:
    """Collect `audit_record_create` calls made in the block; `flush()` writes them in one transaction.

    For hot paths that audit several events (a CDS call: "score" then "card_issued"): call `flush()`
    inside the transaction that stores what the records describe. Whatever is still pending when the
    block ends, normally or by an exception, is written then, so no audited event is ever dropped.
    Records returned while collecting are saved (pk, hashes set) by the flush.
    """
    batch = AuditBatch()
    token = _batch.set(batch)
    try:
        yield batch
    finally:
        _batch.reset(token)
        batch.flush()


def audit_along(write: Callable[[], object]) -> None:
    """Run `write`, a write that belongs with the audit records being made (e.g. what monitoring keeps of a
    scored inference), with them: at the open `audit_batch()`'s flush, in its transaction, or now when no
    batch is open. On a hot path this saves a transaction (and, on SQLite, a turn of the write lock)."""
    batch = _batch.get()
    if batch is None:
        write()
    else:
        batch.writes.append(write)


def audit_records_create(entries: Sequence[Mapping[str, Any]]) -> list[AuditRecord]:
    """Append several records (each the keyword arguments of `audit_record_create`) in one transaction.

    Inside `audit_batch()` they are collected and saved at the batch's flush instead (one chain lock per call).
    """
    records = [_build(**entry) for entry in entries]
    batch = _batch.get()
    if batch is not None:
        batch.pending.extend(records)
    else:
        _append(records)
    return records


def audit_record_create(
    *,
    action: str,
    outcome: str = AuditRecord.Outcome.SUCCESS,
    actor: str = "",
    actor_detail: dict[str, Any] | None = None,
    purpose_of_use: str = "TREAT",
    patient_id: str | None = None,
    model_name: str = "",
    model_version: str = "",
    spec_version: str = "",
    input_digest: str = "",
    output_summary: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditRecord:
    """Append one record to the chain; the raw patient id is stored only encrypted (break-glass).

    Inside `audit_batch()` the record is collected and saved at the batch's flush instead.
    """
    record = _build(
        action=action,
        outcome=outcome,
        actor=actor,
        actor_detail=actor_detail,
        purpose_of_use=purpose_of_use,
        patient_id=patient_id,
        model_name=model_name,
        model_version=model_version,
        spec_version=spec_version,
        input_digest=input_digest,
        output_summary=output_summary,
        detail=detail,
    )
    batch = _batch.get()
    if batch is not None:
        batch.pending.append(record)
    else:
        _append([record])
    return record


def purge_record(*, action: str, actor: str, counts: Mapping[str, int], detail: dict[str, Any]) -> None:
    """The one record of a retention purge: counts and its settings, never a patient; none when nothing went."""
    if any(counts.values()):
        audit_record_create(
            action=action, actor=actor, purpose_of_use="HSYSADMIN", output_summary=dict(counts), detail=detail
        )
