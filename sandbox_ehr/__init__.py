"""Development-only sandbox EHR (FHIR server, SMART authorization server, EHR simulator); off in production."""
