"""App configuration for cds_hooks."""

from django.apps import AppConfig


class CdsHooksConfig(AppConfig):
    """CDS Hooks app."""

    name = "cds_hooks"
    verbose_name = "CDS Hooks"

    def ready(self) -> None:
        """Trusted clients' FHIR servers and JWKS URLs are registered outbound bases; issued cards are an alert
        source of the performance monitors."""
        from cds_hooks import checks  # noqa: F401  (registers the system checks)
        from cds_hooks.selectors import card_alerts
        from cds_hooks.trust import registered_bases
        from config import outbound
        from scoring.monitoring.alerts import alert_source_register

        outbound.source_register(registered_bases, models=[self.get_model("TrustedCdsClient")])
        alert_source_register("cds_cards", card_alerts)
