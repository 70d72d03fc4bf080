"""App configuration for sandbox_ehr."""
from django.apps import AppConfig


class SandboxEhrConfig(AppConfig):
    """Sandbox EHR app."""

    name = "sandbox_ehr"
    verbose_name = "Sandbox EHR"
