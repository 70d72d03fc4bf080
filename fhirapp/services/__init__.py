"""fhirapp services: the audit trail and FHIR write-back."""
