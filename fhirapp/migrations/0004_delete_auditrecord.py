"""The audit trail now lives in the audit app (state only: its table stays as it is)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('fhirapp', '0003_writeback_policy'),
        ('audit', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name='AuditRecord')]),
    ]
