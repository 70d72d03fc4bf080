"""App configuration for sandbox_ehr.auth."""

from django.apps import AppConfig


class SandboxAuthConfig(AppConfig):
    """Sandbox SMART authorization server."""

    name = "sandbox_ehr.auth"
    label = "sandbox_auth"
    verbose_name = "Sandbox SMART authorization server"

    def ready(self) -> None:
        """The sandbox's own FHIR base and its clients' JWKS URLs are registered outbound bases."""
        from config import outbound
        from sandbox_ehr.auth.setup import registered_bases

        outbound.source_register(registered_bases, models=[self.get_model("ClientProfile")])
