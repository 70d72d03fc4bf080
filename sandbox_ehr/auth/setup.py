"""Idempotent registration of the sandbox's OAuth clients (docs/architecture.md#demo-setup)."""

from dataclasses import dataclass

from django.db import transaction
from oauth2_provider.models import Application

from sandbox_ehr.auth import endpoints
from sandbox_ehr.auth.models import ClientProfile

# Least privilege: the sidebar reads; write-back goes through the backend client.
SIDEBAR_SCOPE = (
    "launch launch/patient launch/encounter openid fhirUser profile offline_access online_access patient/*.rs user/*.rs"
)
BACKEND_SCOPE = "system/*.rs system/*.cu introspect"
CDS_SCOPE = "patient/*.rs"
CDS_CLIENT_ID = "stratify-cds"


@dataclass(frozen=True)
class ClientSpec:
    """One client the demo needs."""

    client_id: str
    name: str
    client_type: str
    grant_type: str
    auth_method: str
    scope: str
    redirect_uris: str = ""
    jwks_uri: str = ""


def client_specs() -> list[ClientSpec]:
    """The sandbox's clients, with URLs derived from PUBLIC_BASE_URL."""
    base = endpoints.public_base()
    callback, product_jwks = f"{base}/smart/callback", f"{base}/.well-known/jwks.json"
    code, credentials = Application.GRANT_AUTHORIZATION_CODE, Application.GRANT_CLIENT_CREDENTIALS
    confidential, public = Application.CLIENT_CONFIDENTIAL, Application.CLIENT_PUBLIC
    jwt_auth, no_auth = ClientProfile.AuthMethod.PRIVATE_KEY_JWT, ClientProfile.AuthMethod.NONE
    return [
        ClientSpec(
            "stratify-sidebar",
            "Stratify sidebar (confidential asymmetric)",
            confidential,
            code,
            jwt_auth,
            SIDEBAR_SCOPE,
            callback,
            product_jwks,
        ),
        ClientSpec(
            "stratify-sidebar-public", "Stratify sidebar (public, PKCE)", public, code, no_auth, SIDEBAR_SCOPE, callback
        ),
        ClientSpec(
            "stratify-backend",
            "Stratify backend services (write-back)",
            confidential,
            credentials,
            jwt_auth,
            BACKEND_SCOPE,
            "",
            product_jwks,
        ),
        # The `subject` of the fhirAuthorization the simulator hands to Stratify's CDS services.
        ClientSpec(
            CDS_CLIENT_ID,
            "Stratify CDS services (fhirAuthorization subject)",
            confidential,
            credentials,
            jwt_auth,
            CDS_SCOPE,
            "",
            product_jwks,
        ),
    ]


@transaction.atomic
def client_ensure(spec: ClientSpec) -> bool:
    """Create or update one client and its SMART profile; True when created."""
    app, created = Application.objects.update_or_create(
        client_id=spec.client_id,
        defaults={
            "name": spec.name,
            "client_type": spec.client_type,
            "authorization_grant_type": spec.grant_type,
            "redirect_uris": spec.redirect_uris,
            "client_secret": "",
            "hash_client_secret": False,
            "skip_authorization": True,
        },
    )
    ClientProfile.objects.update_or_create(
        application=app,
        defaults={"auth_method": spec.auth_method, "jwks_uri": spec.jwks_uri, "allowed_scope": spec.scope},
    )
    return created


def registered_bases() -> list[str]:
    """The sandbox FHIR base (the simulator reads it), the registered clients' JWKS URLs (assertions) and the
    product's subscription notification endpoints (the sandbox's rest-hook deliveries)."""
    jwks_uris = ClientProfile.objects.exclude(jwks_uri="").values_list("jwks_uri", flat=True)
    return [endpoints.fhir_base(), *jwks_uris, f"{endpoints.public_base()}/api/subscriptions"]
