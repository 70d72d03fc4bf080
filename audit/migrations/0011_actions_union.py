# The union of the audit actions added side by side by monitoring (0007) and the real-time door (0008-0010).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0010_actions_subscriptions'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditrecord',
            name='action',
            field=models.CharField(choices=[('score', 'Score'), ('card_issued', 'Card Issued'), ('feedback', 'Feedback'), ('cds_auth_failure', 'Cds Auth Failure'), ('smart_launch', 'Smart Launch'), ('sidebar_view', 'Sidebar View'), ('write_back', 'Write Back'), ('admin_change', 'Admin Change'), ('break_glass', 'Break Glass'), ('smart_purge', 'Smart Purge'), ('population_run', 'Population Run'), ('drift_check', 'Drift Check'), ('monitor_purge', 'Monitor Purge'), ('performance_check', 'Performance Check'), ('outcome_import', 'Outcome Import'), ('alert', 'Alert'), ('vitals_ingest', 'Vitals Ingest'), ('device_auth_failure', 'Device Auth Failure'), ('realtime_state', 'Realtime State'), ('subscription_notification', 'Subscription Notification'), ('subscription_change', 'Subscription Change')], db_index=True, max_length=40),
        ),
    ]
