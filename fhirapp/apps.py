"""App configuration for fhirapp."""
from django.apps import AppConfig


class FhirappConfig(AppConfig):
    """FHIR and audit app."""

    name = "fhirapp"
    verbose_name = "FHIR and audit"
