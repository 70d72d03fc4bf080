"""Re-key the audit chain: from sha256(prev_hash || record) to HMAC-SHA256(AUDIT_CHAIN_KEY, prev_hash || record).

The existing chain is verified first with the old, unkeyed hash; a broken chain stops the migration (naming the
first broken record), so that re-keying never launders a record changed before it. Then every record is re-chained
with the key, in id order. The reverse migration does the same the other way round. Self-contained on purpose:
the hashed fields and their canonical JSON are those of the records as they were when this ran.
"""
import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC

import orjson
from django.db import migrations

GENESIS_HASH = "0" * 64
HASHED_FIELDS = (
    "recorded_at", "action", "outcome", "actor", "actor_detail", "purpose_of_use", "patient_pseudonym",
    "patient_ref_encrypted", "model_name", "model_version", "spec_version", "input_digest",
    "output_summary", "detail", "request_id",
)
Digest = Callable[[bytes], str]


def _content(record, prev_hash: str) -> bytes:  # type: ignore[no-untyped-def]
    content = {name: getattr(record, name) for name in HASHED_FIELDS}
    content["recorded_at"] = record.recorded_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return prev_hash.encode() + orjson.dumps(
        content, option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _keyed(data: bytes) -> str:
    from config.keys import audit_chain_key

    return hmac.new(audit_chain_key(), data, hashlib.sha256).hexdigest()


def _rechain(apps, old: Digest, new: Digest) -> None:  # type: ignore[no-untyped-def]
    record_model = apps.get_model("audit", "AuditRecord")
    expected, rechained, batch = GENESIS_HASH, GENESIS_HASH, []
    for record in record_model.objects.order_by("id").iterator(chunk_size=2000):
        if record.prev_hash != expected or old(_content(record, record.prev_hash)) != record.record_hash:
            raise RuntimeError(f"audit chain broken at record id={record.pk}: not re-keyed (run audit_verify)")
        expected = record.record_hash
        record.prev_hash, record.record_hash = rechained, new(_content(record, rechained))
        rechained = record.record_hash
        batch.append(record)
        if len(batch) >= 2000:
            record_model.objects.bulk_update(batch, ["prev_hash", "record_hash"])
            batch = []
    record_model.objects.bulk_update(batch, ["prev_hash", "record_hash"])


def rekey(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    _rechain(apps, _sha256, _keyed)


def unkey(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    _rechain(apps, _keyed, _sha256)


class Migration(migrations.Migration):

    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(rekey, unkey)]
