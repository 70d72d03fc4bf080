"""The audit trail is append-only and hash-chained."""

import pytest

from audit.models import AppendOnlyError, AuditRecord
from audit.services import GENESIS_HASH, audit_record_create, record_digest


@pytest.mark.django_db
class AuditChainTests:
    def test_records_chain_and_verify(self) -> None:
        first = audit_record_create(action="score", patient_id="p1", output_summary={"p": 0.34})
        second = audit_record_create(action="card_issued", patient_id="p1")
        assert first.prev_hash == GENESIS_HASH
        assert second.prev_hash == first.record_hash
        for stored in AuditRecord.objects.all():
            assert record_digest(stored) == stored.record_hash

    def test_patient_is_pseudonymised(self) -> None:
        # "." is in neither the pseudonym's hex nor the token's URL-safe base64: "p1" alone turned up in a random
        # ciphertext by chance (about 1 run in 40)
        record = audit_record_create(action="score", patient_id="p.1")
        assert record.patient_pseudonym and "p.1" not in record.patient_pseudonym
        assert record.patient_ref_encrypted and "p.1" not in record.patient_ref_encrypted

    def test_append_only(self) -> None:
        record = audit_record_create(action="score")
        with pytest.raises(AppendOnlyError):
            record.save()
        with pytest.raises(AppendOnlyError):
            record.delete()
        with pytest.raises(AppendOnlyError):
            AuditRecord.objects.filter(pk=record.pk).update(action="x")
        with pytest.raises(AppendOnlyError):
            AuditRecord.objects.all().delete()
