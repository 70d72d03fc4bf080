"""Security settings shared by every mode: outbound address policy, the sidebar's own session cookie, CSP."""
from config.env import env

# Base URLs we may reach even on a non-public address (loopback, private, link-local), besides the ones
# registered in the database (EHR registrations, trusted CDS clients' FHIR servers and JWKS URLs).
OUTBOUND_ALLOWED_BASES = env.list("OUTBOUND_ALLOWED_BASES", default=[])
