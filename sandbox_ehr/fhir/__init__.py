"""Sandbox FHIR R4 server: resources stored in the project database, searched over REST."""
