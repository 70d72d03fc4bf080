"""App configuration of alerts (alert lifecycle, notification channels, the clinician inbox; monitor findings are
told through the same channels)."""

from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from alerts import checks  # noqa: F401  # registers the system checks
        from alerts.services.findings import finding_listen
        from scoring.monitoring.findings import finding_listener_register

        finding_listener_register("alerts", finding_listen)  # monitor findings told through the channels
