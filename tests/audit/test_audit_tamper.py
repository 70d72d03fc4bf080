"""Every way of rewriting the audit trail quietly is refused or found, on PostgreSQL.

The application's role cannot UPDATE or DELETE a record (trigger). Someone past that (the table's owner) can
change rows, but without AUDIT_CHAIN_KEY cannot chain them: a forged break-glass record, a record re-hashed
together with every later one, are found by `audit_verify`; the newest records removed leave a chain that
still links, which the signed checkpoints kept outside the database expose.
"""

import hashlib
import importlib
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.db.migrations.loader import MigrationLoader

from audit.checkpoints import audit_checkpoint_create
from audit.models import AuditRecord
from audit.services import audit_record_create, canonical_json

pytestmark = [pytest.mark.django_db, pytest.mark.integration]
rekey_migration = importlib.import_module("audit.migrations.0002_rekey_chain")


def _sql(sql: str, params: list[Any] | None = None, *, as_owner: bool = False) -> None:
    with connection.cursor() as cursor:
        if as_owner:
            cursor.execute("ALTER TABLE fhirapp_auditrecord DISABLE TRIGGER stratify_audit_append_only")
        cursor.execute(sql, params or [])
        if as_owner:
            cursor.execute("ALTER TABLE fhirapp_auditrecord ENABLE TRIGGER stratify_audit_append_only")


def _trail(n: int = 4) -> list[AuditRecord]:
    return [
        audit_record_create(action="score", patient_id=f"p{i}", output_summary={"probability": i / 10})
        for i in range(n)
    ]


def _unkeyed(prev_hash: str, row: dict[str, Any]) -> str:
    """The hash an attacker can compute without the key (the chain's former sha256 scheme)."""
    content = {
        k: row[k]
        for k in (
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
    }
    content["recorded_at"] = row["recorded_at"]
    return hashlib.sha256(prev_hash.encode() + canonical_json(content)).hexdigest()


def _verify(*args: str) -> str:
    out = StringIO()
    call_command("audit_verify", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("statement", ["UPDATE fhirapp_auditrecord SET actor = 'x'", "DELETE FROM fhirapp_auditrecord"])
def test_the_application_role_cannot_update_or_delete(statement: str) -> None:
    _trail(2)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _sql(statement)
    assert AuditRecord.objects.count() == 2 and "2 records verified" in _verify()


def test_a_forged_break_glass_record_chained_without_the_key_is_found() -> None:
    records = _trail()
    forged = {
        "recorded_at": "2030-01-01T00:00:00.000000Z",
        "action": "break_glass",
        "outcome": "success",
        "actor": "auditor",
        "actor_detail": {},
        "purpose_of_use": "TREAT",
        "patient_pseudonym": "",
        "patient_ref_encrypted": "",
        "model_name": "",
        "model_version": "",
        "spec_version": "",
        "input_digest": "",
        "output_summary": {},
        "detail": {"reason": "forged"},
        "request_id": "",
    }
    _sql(
        "INSERT INTO fhirapp_auditrecord (recorded_at, action, outcome, actor, actor_detail, purpose_of_use, "
        "patient_pseudonym, patient_ref_encrypted, model_name, model_version, spec_version, input_digest, "
        "output_summary, detail, request_id, prev_hash, record_hash) VALUES (%s, 'break_glass', 'success', "
        "'auditor', '{}', 'TREAT', '', '', '', '', '', '', '{}', %s, '', %s, %s)",
        [
            forged["recorded_at"],
            json.dumps(forged["detail"]),
            records[-1].record_hash,
            _unkeyed(records[-1].record_hash, forged),
        ],
    )
    forged_id = AuditRecord.objects.order_by("-id").values_list("id", flat=True).first()
    with pytest.raises(CommandError, match=f"id={forged_id}: record_hash does not match"):
        _verify()


def test_a_record_rehashed_with_every_later_one_is_found() -> None:
    records = _trail()
    rows: list[dict[str, Any]] = [dict(row) for row in AuditRecord.objects.order_by("id").values()]
    rows[1]["output_summary"] = {"probability": 0.99}
    prev = rows[0]["record_hash"]
    for row in rows[1:]:  # the attacker re-chains from the changed record on, as well as one can without the key
        row["recorded_at"] = row["recorded_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        row["prev_hash"], row["record_hash"] = prev, _unkeyed(prev, row)
        prev = row["record_hash"]
        _sql(
            "UPDATE fhirapp_auditrecord SET output_summary = %s, prev_hash = %s, record_hash = %s WHERE id = %s",
            [json.dumps(row["output_summary"]), row["prev_hash"], row["record_hash"], row["id"]],
            as_owner=True,
        )
    with pytest.raises(CommandError, match=f"id={records[1].pk}: record_hash does not match"):
        _verify()


def test_removing_the_newest_records_is_found_by_the_checkpoints(tmp_path: Path) -> None:
    records = _trail()
    checkpoints = tmp_path / "checkpoints.jsonl"
    audit_checkpoint_create(path=checkpoints)
    assert "1 checked" in _verify("--checkpoints", str(checkpoints))
    _sql("DELETE FROM fhirapp_auditrecord WHERE id = %s", [records[-1].pk], as_owner=True)
    assert "3 records verified" in _verify()  # what is left still chains ...
    with pytest.raises(CommandError, match=f"id={records[-1].pk} it names is missing"):
        _verify("--checkpoints", str(checkpoints))  # ... the checkpoint outside the database says otherwise


def test_an_edited_checkpoint_is_found(tmp_path: Path) -> None:
    _trail(2)
    checkpoints = tmp_path / "checkpoints.jsonl"
    checkpoint = audit_checkpoint_create(path=checkpoints)
    assert checkpoint is not None
    checkpoints.write_text(json.dumps({**checkpoint, "records": 1}) + "\n")
    with pytest.raises(CommandError, match="signature does not verify"):
        _verify("--checkpoints", str(checkpoints))


def test_the_rekey_migration_verifies_the_old_chain_then_keys_it() -> None:
    apps = MigrationLoader(connection).project_state(("audit", "0002_rekey_chain")).apps  # as the migration sees it
    _trail(3)
    _sql("ALTER TABLE fhirapp_auditrecord DISABLE TRIGGER stratify_audit_append_only")
    rekey_migration.unkey(apps, None)  # back to the unkeyed sha256 chain of earlier releases
    with pytest.raises(CommandError):
        _verify()
    rekey_migration.rekey(apps, None)
    assert "3 records verified" in _verify()
    first = AuditRecord.objects.order_by("id").first()
    assert first is not None
    _sql("UPDATE fhirapp_auditrecord SET actor = 'x' WHERE id = %s", [first.pk])  # a change before re-keying ...
    with pytest.raises(RuntimeError, match=f"broken at record id={first.pk}"):
        rekey_migration.unkey(apps, None)  # ... is never laundered by a re-key
