"""audit_verify (tamper detection), audit_export (AuditEvents), read-only audit admin, break-glass."""

import json
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.urls import reverse

from audit.break_glass import break_glass_reveal
from audit.governance import governance_groups_setup
from audit.models import AuditRecord
from audit.services import audit_record_create
from tests.fhirapp.conftest import Validate

pytestmark = pytest.mark.django_db


def _chain(n: int = 4) -> list[AuditRecord]:
    return [
        audit_record_create(
            action="score",
            patient_id=f"pat-{i}",
            model_name="sepsis",
            model_version="1",
            output_summary={"probability": i / 10},
        )
        for i in range(n)
    ]


def _raw_sql(sql: str, params: list[Any]) -> None:
    """Tamper as the table's owner would: past the append-only trigger (tests/audit/test_audit_tamper.py)."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE fhirapp_auditrecord DISABLE TRIGGER stratify_audit_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE fhirapp_auditrecord ENABLE TRIGGER stratify_audit_append_only")


class AuditVerifyTests:
    def test_intact_chain(self) -> None:
        _chain()
        out = StringIO()
        call_command("audit_verify", stdout=out)
        assert "4 records verified" in out.getvalue()

    def test_tampered_content_is_found(self) -> None:
        records = _chain()
        _raw_sql(
            "UPDATE fhirapp_auditrecord SET output_summary = %s WHERE id = %s", ['{"probability": 0.01}', records[2].pk]
        )
        with pytest.raises(CommandError, match=f"id={records[2].pk}: record_hash does not match") as info:
            call_command("audit_verify")
        assert info.value.returncode == 1

    def test_removed_record_is_found(self) -> None:
        records = _chain()
        _raw_sql("DELETE FROM fhirapp_auditrecord WHERE id = %s", [records[1].pk])
        with pytest.raises(CommandError, match=f"id={records[2].pk}: prev_hash does not match"):
            call_command("audit_verify")

    def test_rehashed_record_breaks_the_next_link(self) -> None:
        records = _chain()
        _raw_sql(
            "UPDATE fhirapp_auditrecord SET action = 'feedback', record_hash = %s WHERE id = %s",
            ["f" * 64, records[0].pk],
        )
        with pytest.raises(CommandError, match=f"id={records[0].pk}"):
            call_command("audit_verify")

    def test_exit_code_from_the_command_line(self) -> None:
        records = _chain(2)
        _raw_sql("UPDATE fhirapp_auditrecord SET actor = 'someone-else' WHERE id = %s", [records[1].pk])
        with pytest.raises(CommandError) as info:
            call_command("audit_verify")
        assert info.value.returncode == 1


class AuditExportTests:
    def test_ndjson_of_valid_audit_events(self, fhir_schema_validate: Validate) -> None:
        records = _chain(3)
        out = StringIO()
        call_command("audit_export", "--since", (records[0].recorded_at - timedelta(seconds=1)).isoformat(), stdout=out)
        events = [json.loads(line) for line in out.getvalue().splitlines()]
        assert [e["id"] for e in events] == [f"stratify-audit-{r.pk}" for r in records]
        assert all(fhir_schema_validate(e) == [] for e in events)
        assert "pat-0" not in out.getvalue()  # only the pseudonym leaves
        assert events[0]["entity"][0]["what"]["identifier"]["value"] == records[0].patient_pseudonym

    def test_bundle_and_since_filter(self, tmp_path: Any, fhir_schema_validate: Validate) -> None:
        _chain(2)
        target = tmp_path / "audit.json"
        call_command(
            "audit_export", "--since", "2000-01-01", "--format", "bundle", "--output", str(target), stderr=StringIO()
        )
        bundle = json.loads(target.read_text())
        assert bundle["type"] == "collection" and len(bundle["entry"]) == 2
        assert fhir_schema_validate(bundle) == []
        future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        out = StringIO()
        call_command("audit_export", "--since", future, stdout=out)
        assert out.getvalue() == ""

    def test_bad_since(self) -> None:
        with pytest.raises(CommandError, match="ISO 8601"):
            call_command("audit_export", "--since", "yesterday")


def _staff(username: str, *, group: str | None = None, superuser: bool = False) -> Client:
    governance_groups_setup()
    user = User.objects.create_user(username, password="pw-123456789", is_staff=True, is_superuser=superuser)
    if group:
        user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


class AuditAdminTests:
    def test_read_only_even_for_superusers(self) -> None:
        record = _chain(1)[0]
        client = _staff("root", superuser=True)
        assert client.get(reverse("admin:audit_auditrecord_changelist")).status_code == 200
        assert client.get(reverse("admin:audit_auditrecord_add")).status_code == 403
        change = client.post(reverse("admin:audit_auditrecord_change", args=[record.pk]), {"action": "x"})
        assert change.status_code == 403
        assert client.post(reverse("admin:audit_auditrecord_delete", args=[record.pk])).status_code == 403
        page = client.get(reverse("admin:audit_auditrecord_changelist")).content.decode()
        # no admin action offered (the action filter now lists the audit actions, break_glass among them)
        assert 'value="break_glass"' not in page and "delete_selected" not in page
        assert AuditRecord.objects.get(pk=record.pk).action == "score"

    def test_clinician_sees_nothing(self) -> None:
        client = _staff("doc", group="clinician")
        assert client.get(reverse("admin:audit_auditrecord_changelist")).status_code == 403

    def test_break_glass_by_auditor_is_audited(self) -> None:
        record = _chain(1)[0]
        client = _staff("aud", group="auditor")
        url = reverse("admin:audit_auditrecord_changelist")
        confirm = client.post(url, {"action": "break_glass", "_selected_action": [record.pk]})
        assert confirm.status_code == 200 and b"Reveal and record" in confirm.content
        assert b"Patient/pat-0" not in confirm.content
        shown = client.post(
            url,
            {
                "action": "break_glass",
                "_selected_action": [record.pk],
                "reason": "Incident review INC-1234 requested by the DPO",
            },
        )
        assert b"Patient/pat-0" in shown.content
        reveal = AuditRecord.objects.get(action="break_glass")
        assert reveal.actor == "admin:aud" and reveal.purpose_of_use == "BTG"
        assert reveal.detail == {
            "audit_record_id": record.pk,
            "reason": "Incident review INC-1234 requested by the DPO",
        }
        assert reveal.patient_pseudonym == record.patient_pseudonym

    def test_break_glass_refused_outside_auditor_group(self) -> None:
        record = _chain(1)[0]
        client = _staff("root2", superuser=True)
        response = client.post(
            reverse("admin:audit_auditrecord_changelist"),
            {"action": "break_glass", "_selected_action": [record.pk], "reason": "x" * 20},
        )
        assert b"Patient/pat-0" not in response.content
        assert not AuditRecord.objects.filter(action="break_glass").exists()
        from config.errors import PermissionDenied

        with pytest.raises(PermissionDenied):
            break_glass_reveal(user=User.objects.get(username="root2"), records=[record], reason="x" * 20)
