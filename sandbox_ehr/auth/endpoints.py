"""Absolute URLs of the sandbox EHR, all derived from settings.PUBLIC_BASE_URL (one place)."""

from django.conf import settings

# The sandbox's fixed "logged-in clinician": every authorization is made on behalf of this
# practitioner (the sandbox has no login). Documented in README "Sandbox SMART authorization server".
SANDBOX_PRACTITIONER_ID = "sandbox-clinician"


def public_base() -> str:
    """The product's public base URL without a trailing slash."""
    return str(settings.PUBLIC_BASE_URL).rstrip("/")


def fhir_base() -> str:
    """The sandbox FHIR base: the `aud` of authorize requests and the `iss` of EHR launches."""
    return f"{public_base()}/sandbox/fhir"


def issuer() -> str:
    """OpenID issuer of id_tokens (the FHIR base, as SMART's `issuer` field advertises)."""
    return fhir_base()


def authorize_url() -> str:
    """The authorization endpoint."""
    return f"{public_base()}/sandbox/auth/authorize"


def token_url() -> str:
    """The token endpoint (also the required `aud` of client assertions)."""
    return f"{public_base()}/sandbox/auth/token"


def introspect_url() -> str:
    """The RFC 7662 introspection endpoint."""
    return f"{public_base()}/sandbox/auth/introspect"


def jwks_url() -> str:
    """The sandbox JWKS: the id_token key and the simulator's CDS-client key."""
    return f"{public_base()}/sandbox/ehr/.well-known/jwks.json"


def ehr_issuer() -> str:
    """The simulator's issuer as a CDS client (`iss` of its CDS Hooks JWTs)."""
    return f"{public_base()}/sandbox/ehr"


def style_url() -> str:
    """The SMART style JSON served by the simulator."""
    return f"{public_base()}/sandbox/ehr/smart-style.json"


def practitioner_url() -> str:
    """`fhirUser` of the sandbox clinician."""
    return f"{fhir_base()}/Practitioner/{SANDBOX_PRACTITIONER_ID}"
