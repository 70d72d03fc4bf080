"""Fixtures of the audit tests: the R4 JSON-schema validator the FHIR builder tests use too."""

from tests.fhirapp.conftest import fhir_schema_validate

__all__ = ["fhir_schema_validate"]
