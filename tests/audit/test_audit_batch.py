"""Batched audit appends (one transaction, one chain lock) keep the chain and never drop a record."""

import pytest
from django.db import transaction

from audit.models import AuditRecord
from audit.services import GENESIS_HASH, audit_batch, audit_record_create, audit_records_create, record_digest


@pytest.mark.django_db
class AuditBatchTests:
    def test_records_create_chains_in_order(self) -> None:
        first, second = audit_records_create([{"action": "score", "patient_id": "p1"}, {"action": "card_issued"}])
        assert first.prev_hash == GENESIS_HASH and second.prev_hash == first.record_hash
        assert [r.action for r in AuditRecord.objects.all()] == ["score", "card_issued"]
        assert all(record_digest(r) == r.record_hash for r in AuditRecord.objects.all())

    def test_batch_writes_at_flush(self) -> None:
        with audit_batch() as batch:
            record = audit_record_create(action="score", patient_id="p1")
            assert record.pk is None and not AuditRecord.objects.exists()
            batch.flush()
            assert record.pk is not None
        assert record_digest(AuditRecord.objects.get()) == record.record_hash

    def test_pending_records_survive_an_error(self) -> None:
        with pytest.raises(RuntimeError), audit_batch() as batch:
            audit_record_create(action="score", patient_id="p1")
            kept = len(batch.pending)
            try:
                with transaction.atomic():
                    audit_record_create(action="card_issued", patient_id="p1")
                    raise RuntimeError("card store failed")
            except RuntimeError:
                batch.discard_from(kept)
                raise
        assert [r.action for r in AuditRecord.objects.all()] == ["score"]
