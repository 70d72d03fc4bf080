"""ORM models of sandbox_ehr.fhir."""
