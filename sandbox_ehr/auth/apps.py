"""App configuration for sandbox_ehr.auth."""
from django.apps import AppConfig


class SandboxAuthConfig(AppConfig):
    """Sandbox SMART authorization server."""

    name = "sandbox_ehr.auth"
    label = "sandbox_auth"
    verbose_name = "Sandbox SMART authorization server"
