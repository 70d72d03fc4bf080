"""App configuration for fhirapp."""

from django.apps import AppConfig


class FhirappConfig(AppConfig):
    """The patient-data path (snapshot fetch) and the write-back to the EHR."""

    name = "fhirapp"
    verbose_name = "FHIR write-back"
