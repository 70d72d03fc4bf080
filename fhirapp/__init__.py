"""FHIR plumbing: the FHIR HTTP client, pure resource builders, write-back and the audit trail."""
