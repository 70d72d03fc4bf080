"""The audit trail moves out of fhirapp into its own app: same table, same rows, same permissions.

The table (`fhirapp_auditrecord`) is not touched: only Django's state moves (SeparateDatabaseAndState).
The content type is relabelled so the break-glass and view permissions already granted to groups stay
granted under the new app label.
"""

import django.utils.timezone
from django.db import migrations, models


def _relabel_content_type(apps, schema_editor):  # type: ignore[no-untyped-def]
    content_type = apps.get_model("contenttypes", "ContentType")
    content_type.objects.filter(app_label="fhirapp", model="auditrecord").update(app_label="audit")


def _restore_content_type(apps, schema_editor):  # type: ignore[no-untyped-def]
    content_type = apps.get_model("contenttypes", "ContentType")
    content_type.objects.filter(app_label="audit", model="auditrecord").update(app_label="fhirapp")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("fhirapp", "0002_alter_auditrecord_options_writeback_failedwriteback"),
    ]

    state_operations = [
        migrations.CreateModel(
            name='AuditRecord',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('recorded_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('action', models.CharField(choices=[('score', 'Score'), ('card_issued', 'Card Issued'), ('feedback', 'Feedback'), ('cds_auth_failure', 'Cds Auth Failure'), ('smart_launch', 'Smart Launch'), ('sidebar_view', 'Sidebar View'), ('write_back', 'Write Back'), ('admin_change', 'Admin Change'), ('break_glass', 'Break Glass'), ('smart_purge', 'Smart Purge')], db_index=True, max_length=40)),
                ('outcome', models.CharField(choices=[('success', 'Success'), ('failure', 'Failure'), ('denied', 'Denied'), ('not_scored', 'Not Scored')], default='success', max_length=10)),
                ('actor', models.CharField(blank=True, max_length=300)),
                ('actor_detail', models.JSONField(blank=True, default=dict)),
                ('purpose_of_use', models.CharField(default='TREAT', max_length=20)),
                ('patient_pseudonym', models.CharField(blank=True, db_index=True, max_length=64)),
                ('patient_ref_encrypted', models.TextField(blank=True)),
                ('model_name', models.CharField(blank=True, max_length=64)),
                ('model_version', models.CharField(blank=True, max_length=64)),
                ('spec_version', models.CharField(blank=True, max_length=32)),
                ('input_digest', models.CharField(blank=True, max_length=64)),
                ('output_summary', models.JSONField(blank=True, default=dict)),
                ('detail', models.JSONField(blank=True, default=dict)),
                ('request_id', models.CharField(blank=True, max_length=64)),
                ('prev_hash', models.CharField(max_length=64)),
                ('record_hash', models.CharField(max_length=64, unique=True)),
            ],
            options={
                'db_table': 'fhirapp_auditrecord',
                'ordering': ['id'],
                'permissions': [('break_glass_auditrecord', 'Can reveal the patient of an audit record (break-glass)')],
                'indexes': [models.Index(fields=['action', 'recorded_at'], name='fhirapp_aud_action_c64c15_idx')],
            },
        ),
    ]

    operations = [
        migrations.RunPython(_relabel_content_type, _restore_content_type),
        migrations.SeparateDatabaseAndState(state_operations=state_operations),
    ]
