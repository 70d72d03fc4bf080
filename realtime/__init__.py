"""Real-time door: vitals events in (FHIR Subscriptions from the EHR, device streams), rescoring within seconds."""
