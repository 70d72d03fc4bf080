"""App configuration for sandbox_ehr.ehr."""

from django.apps import AppConfig


class SandboxSimConfig(AppConfig):
    """Sandbox EHR simulator."""

    name = "sandbox_ehr.ehr"
    label = "sandbox_sim"
    verbose_name = "Sandbox EHR simulator"
