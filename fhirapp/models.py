"""ORM models of fhirapp."""
