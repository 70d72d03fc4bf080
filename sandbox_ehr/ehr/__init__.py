"""Sandbox EHR simulator: patient list, chart, CDS Hooks calls and SMART EHR launch."""
