"""App configuration for cds_hooks."""

from django.apps import AppConfig


class CdsHooksConfig(AppConfig):
    """CDS Hooks app."""

    name = "cds_hooks"
    verbose_name = "CDS Hooks"

    def ready(self) -> None:
        """Trusted clients' FHIR servers and JWKS URLs are registered outbound bases."""
        from cds_hooks import checks  # noqa: F401  (registers the system checks)
        from cds_hooks.trust import registered_bases
        from config import outbound

        outbound.source_register(registered_bases, models=[self.get_model("TrustedCdsClient")])
