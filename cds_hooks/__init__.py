"""CDS Hooks 2.0 service: discovery, patient-view scoring cards, feedback and JWT trust."""
