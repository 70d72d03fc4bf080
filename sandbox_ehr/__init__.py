"""Development-only sandbox EHR: FHIR R4 server, SMART authorization server and EHR simulator."""
