"""The token endpoint's grants: authorization_code (+PKCE), refresh_token, client_credentials.

Token response per SMART App Launch 2.x "Obtain access token" and "Backend Services"
(https://hl7.org/fhir/smart-app-launch/backend-services.html): `system/` scopes only for
client_credentials, grant = requested ∩ client-allowed (narrowed, never widened).
"""

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import Application

from sandbox_ehr.auth import endpoints
from sandbox_ehr.auth.access import token_digest
from sandbox_ehr.auth.assertions import client_assertion_verify
from sandbox_ehr.auth.errors import InvalidClient, InvalidGrant, InvalidScope, OAuthError
from sandbox_ehr.auth.models import AuthorizationCode, ClientProfile, IssuedToken, SigningKey
from sandbox_ehr.auth.scopes import resource_scope_parse, scope_intersect, scope_split
from sandbox_ehr.auth.services import (
    ACCESS_SECONDS,
    OFFLINE_REFRESH_DAYS,
    ONLINE_REFRESH_HOURS,
    TokenContext,
    token_create,
    token_revoke_for_code,
)
from sandbox_ehr.auth.signing import jwt_sign

_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")  # RFC 7636 §4.1


def client_authenticate(
    params: Mapping[str, str], *, audiences: tuple[str, ...], allow_public: bool = True
) -> Application:
    """The calling client: by private_key_jwt assertion, or by client_id alone for public clients."""
    if params.get("client_assertion") or params.get("client_assertion_type"):
        app = client_assertion_verify(
            assertion_type=params.get("client_assertion_type", ""),
            assertion=params.get("client_assertion", ""),
            audiences=audiences,
        )
        if params.get("client_id") and params["client_id"] != app.client_id:
            raise InvalidClient("client_id does not match the client assertion.")
        return app
    app = Application.objects.select_related("smart_profile").filter(client_id=params.get("client_id", "")).first()
    profile = getattr(app, "smart_profile", None) if app else None
    if app is None or profile is None:
        raise InvalidClient("Unknown client.")
    if not allow_public or profile.auth_method != ClientProfile.AuthMethod.NONE:
        raise InvalidClient("This client must authenticate with a private_key_jwt client assertion.")
    return app


def pkce_verify(verifier: str, challenge: str) -> None:
    """RFC 7636 §4.6 S256 check, constant time."""
    if not _VERIFIER.match(verifier or ""):
        raise InvalidGrant("code_verifier is missing or malformed (RFC 7636: 43-128 unreserved characters).")
    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    if not hmac.compare_digest(computed, challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge.")


def _id_token(client_id: str, context: TokenContext, nonce: str) -> str:
    claims: dict[str, Any] = {
        "iss": endpoints.issuer(),
        "aud": client_id,
        "sub": endpoints.SANDBOX_PRACTITIONER_ID,
        "fhirUser": context.fhir_user,
    }
    if nonce:
        claims["nonce"] = nonce
    return jwt_sign(SigningKey.Purpose.ID_TOKEN, claims, lifetime=ACCESS_SECONDS)


def _refresh_lifetime(scopes: list[str]) -> timedelta | None:
    if "offline_access" in scopes:
        return timedelta(days=OFFLINE_REFRESH_DAYS)
    if "online_access" in scopes:
        return timedelta(hours=ONLINE_REFRESH_HOURS)
    return None


def token_response(
    *,
    client_id: str,
    scope: str,
    context: TokenContext,
    nonce: str = "",
    code: AuthorizationCode | None = None,
    user_facing: bool = True,
    seconds: int = ACCESS_SECONDS,
) -> dict[str, Any]:
    """Issue the access token (and refresh / id token as the scopes ask) and build the JSON response."""
    scopes = scope_split(scope)
    access = token_create(
        client_id=client_id,
        scope=scope,
        context=context,
        kind=IssuedToken.Kind.ACCESS,
        lifetime=timedelta(seconds=seconds),
        code=code,
    )
    body: dict[str, Any] = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": seconds,
        "scope": scope,
    }
    if not user_facing:
        return body
    body |= {
        k: v
        for k, v in (
            ("patient", context.patient_id),
            ("encounter", context.encounter_id),
            ("appContext", context.app_context),
        )
        if v
    }
    body |= {"need_patient_banner": context.need_patient_banner, "smart_style_url": endpoints.style_url()}
    if "openid" in scopes and ({"fhirUser", "profile"} & set(scopes)):
        body["id_token"] = _id_token(client_id, context, nonce)
    lifetime = _refresh_lifetime(scopes)
    if lifetime:
        body["refresh_token"] = token_create(
            client_id=client_id,
            scope=scope,
            context=context,
            kind=IssuedToken.Kind.REFRESH,
            lifetime=lifetime,
            code=code,
        )
    return body


def _context_of(row: AuthorizationCode | IssuedToken) -> TokenContext:
    return TokenContext(
        patient_id=row.patient_id,
        encounter_id=row.encounter_id,
        fhir_user=row.fhir_user,
        app_context=row.app_context,
        need_patient_banner=row.need_patient_banner,
    )


def grant_authorization_code(app: Application, params: Mapping[str, str]) -> dict[str, Any]:
    """Exchange a code (single use; a replay revokes what it issued, RFC 6749 §4.1.2)."""
    with transaction.atomic():
        code = (
            AuthorizationCode.objects.select_for_update().filter(code_hash=token_digest(params.get("code", ""))).first()
        )
        if code is None or code.client_id != app.client_id:
            raise InvalidGrant("The authorization code is invalid.")
        if code.used_at is None:
            if code.expires_at <= timezone.now():
                raise InvalidGrant("The authorization code has expired.")
            if params.get("redirect_uri") != code.redirect_uri:
                raise InvalidGrant("redirect_uri does not match the authorization request.")
            pkce_verify(params.get("code_verifier", ""), code.code_challenge)
            code.used_at = timezone.now()
            code.save(update_fields=["used_at"])
            return token_response(
                client_id=app.client_id, scope=code.scope, context=_context_of(code), nonce=code.nonce, code=code
            )
    token_revoke_for_code(code)  # committed even though the request fails
    raise InvalidGrant("The authorization code was already used; tokens issued from it are revoked.")


@transaction.atomic
def grant_refresh_token(app: Application, params: Mapping[str, str]) -> dict[str, Any]:
    """Use a refresh token (rotated: the old one is revoked); `scope` may only narrow."""
    row = (
        IssuedToken.objects.select_for_update()
        .filter(token_hash=token_digest(params.get("refresh_token", "")), kind=IssuedToken.Kind.REFRESH)
        .first()
    )
    if row is None or row.client_id != app.client_id or row.revoked_at or row.expires_at <= timezone.now():
        raise InvalidGrant("The refresh token is invalid, expired or revoked.")
    scope = " ".join(scope_intersect(params["scope"], row.scope)) if params.get("scope") else row.scope
    if not scope:
        raise InvalidScope("The requested scope is not within the original grant.")
    row.revoked_at = timezone.now()
    row.save(update_fields=["revoked_at"])
    return token_response(client_id=app.client_id, scope=scope, context=_context_of(row), code=row.code)


def grant_client_credentials(app: Application, params: Mapping[str, str]) -> dict[str, Any]:
    """SMART Backend Services: `system/` scopes only, narrowed to what the client may have."""
    requested = scope_split(params.get("scope", ""))
    not_system = [s for s in requested if (p := resource_scope_parse(s)) is None or p.context != "system"]
    if not requested or not_system:
        raise InvalidScope("client_credentials accepts only system/ scopes.")
    scope = scope_intersect(" ".join(requested), app.smart_profile.allowed_scope)
    if not scope:
        raise InvalidScope("None of the requested system scopes can be granted to this client.")
    return token_response(
        client_id=app.client_id,
        scope=" ".join(scope),
        context=TokenContext(),
        user_facing=False,
        seconds=settings.SANDBOX_BACKEND_TOKEN_SECONDS,
    )


def token_exchange(params: Mapping[str, str]) -> dict[str, Any]:
    """Dispatch a token request by grant_type after authenticating the client."""
    grant_type = params.get("grant_type", "")
    audiences = (endpoints.token_url(),)
    if grant_type == "authorization_code":
        return grant_authorization_code(client_authenticate(params, audiences=audiences), params)
    if grant_type == "refresh_token":
        return grant_refresh_token(client_authenticate(params, audiences=audiences), params)
    if grant_type == "client_credentials":
        app = client_authenticate(params, audiences=audiences, allow_public=False)
        if app.authorization_grant_type != Application.GRANT_CLIENT_CREDENTIALS:
            raise OAuthError("This client is not registered for client_credentials.", code="unauthorized_client")
        return grant_client_credentials(app, params)
    raise OAuthError(
        "grant_type must be authorization_code, refresh_token or client_credentials.", code="unsupported_grant_type"
    )


def token_introspect(token: str) -> dict[str, Any]:
    """RFC 7662 §2.2 response for any access or refresh token issued here."""
    row = IssuedToken.objects.filter(token_hash=token_digest(token)).first()
    if row is None or row.revoked_at or row.expires_at <= timezone.now():
        return {"active": False}
    body: dict[str, Any] = {
        "active": True,
        "scope": row.scope,
        "client_id": row.client_id,
        "token_type": "Bearer",
        "exp": int(row.expires_at.timestamp()),
        "iat": int(row.created_at.timestamp()),
        "iss": endpoints.issuer(),
        "token_use": row.kind,
    }
    body |= {
        k: v
        for k, v in (("patient", row.patient_id), ("encounter", row.encounter_id), ("fhirUser", row.fhir_user))
        if v
    }
    if row.fhir_user:
        body["sub"] = endpoints.SANDBOX_PRACTITIONER_ID
    return body
