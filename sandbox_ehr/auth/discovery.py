"""Discovery documents: SMART `.well-known/smart-configuration` and OpenID configuration.

SMART App Launch 2.x "Conformance" (https://hl7.org/fhir/smart-app-launch/conformance.html).
"""

from typing import Any

from sandbox_ehr.auth import endpoints
from sandbox_ehr.auth.assertions import ALLOWED_ALGORITHMS

CAPABILITIES = [
    "launch-ehr",
    "launch-standalone",
    "client-public",
    "client-confidential-asymmetric",
    "context-ehr-patient",
    "context-ehr-encounter",
    "context-standalone-patient",
    "context-passthrough-banner",
    "context-passthrough-style",
    "permission-v2",
    "permission-v1",
    "permission-offline",
    "permission-online",
    "permission-patient",
    "permission-user",
    "sso-openid-connect",
    "authorize-post",
]
SCOPES_SUPPORTED = [
    "openid",
    "fhirUser",
    "profile",
    "launch",
    "launch/patient",
    "launch/encounter",
    "offline_access",
    "online_access",
    "patient/*.cruds",
    "user/*.cruds",
    "system/*.cruds",
    "patient/*.rs",
    "user/*.rs",
    "system/*.rs",
    "patient/*.read",
    "user/*.read",
    "system/*.read",
    "patient/*.write",
    "user/*.write",
    "system/*.write",
]


def smart_configuration() -> dict[str, Any]:
    """The SMART configuration of the sandbox FHIR server."""
    return {
        "issuer": endpoints.issuer(),
        "jwks_uri": endpoints.jwks_url(),
        "authorization_endpoint": endpoints.authorize_url(),
        "token_endpoint": endpoints.token_url(),
        "introspection_endpoint": endpoints.introspect_url(),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": list(ALLOWED_ALGORITHMS),
        "scopes_supported": SCOPES_SUPPORTED,
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": CAPABILITIES,
    }


def openid_configuration() -> dict[str, Any]:
    """OpenID Provider metadata for the id_token issuer."""
    return {
        "issuer": endpoints.issuer(),
        "jwks_uri": endpoints.jwks_url(),
        "authorization_endpoint": endpoints.authorize_url(),
        "token_endpoint": endpoints.token_url(),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "fhirUser", "profile"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "fhirUser"],
    }
