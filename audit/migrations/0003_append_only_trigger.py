"""Append-only in PostgreSQL itself: a trigger refuses every UPDATE and DELETE of an audit record.

Whatever reaches the database with the application's role (a bug, an injected statement, a shell) cannot
change or remove a record; only the table's owner could drop the trigger, which the keyed chain and the signed
checkpoints outside the database then expose. TRUNCATE is not refused (Django's test runner empties tables with
it); a truncated trail fails `audit_verify --checkpoints`. Other databases (the embedded SQLite) are left as they
are: the ORM refuses updates and deletes there (audit.models).
"""
from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION stratify_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit records are append-only: % refused on %', TG_OP, TG_TABLE_NAME;
END
$$;
CREATE TRIGGER stratify_audit_append_only BEFORE UPDATE OR DELETE ON fhirapp_auditrecord
    FOR EACH ROW EXECUTE FUNCTION stratify_audit_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS stratify_audit_append_only ON fhirapp_auditrecord;
DROP FUNCTION IF EXISTS stratify_audit_append_only();
"""


def _on_postgresql(sql: str):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)
    return run


class Migration(migrations.Migration):

    dependencies = [("audit", "0002_rekey_chain")]

    operations = [migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP))]
