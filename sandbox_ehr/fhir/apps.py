"""App configuration for sandbox_ehr.fhir."""

from django.apps import AppConfig


class SandboxFhirConfig(AppConfig):
    """Sandbox FHIR server."""

    name = "sandbox_ehr.fhir"
    label = "sandbox_fhir"
    verbose_name = "Sandbox FHIR server"
