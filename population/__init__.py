"""Population stratification: FHIR Bulk Data export in, every patient scored, cohorts ranked as worklists."""
