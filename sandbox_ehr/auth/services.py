"""Writes of the sandbox authorization server: launches, authorization codes, tokens.

`access_token_issue` is also called directly by tests and the simulator (docs/architecture.md#sandbox-access-grants).
Secrets are random 256-bit URL-safe strings; only their SHA-256 is stored.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from config.errors import ValidationFailed
from sandbox_ehr.auth.access import token_digest
from sandbox_ehr.auth.models import AuthorizationCode, IssuedToken, Launch, UsedAssertion
from sandbox_ehr.auth.scopes import is_known, resource_scope_parse, scope_split

LAUNCH_SECONDS = 300
CODE_SECONDS = 120
ACCESS_SECONDS = 3600
OFFLINE_REFRESH_DAYS = 30
ONLINE_REFRESH_HOURS = 8


def _secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class TokenContext:
    """Launch context carried from a launch to a code to tokens."""

    patient_id: str = ""
    encounter_id: str = ""
    fhir_user: str = ""
    app_context: str = ""
    need_patient_banner: bool = True


def _check_scope(scope: str, patient_id: str | None) -> None:
    unknown = [s for s in scope_split(scope) if not is_known(s)]
    if unknown:
        raise ValidationFailed("Unknown or unsupported scopes.", extra={"scopes": unknown})
    patient_level = any((p := resource_scope_parse(s)) and p.context == "patient" for s in scope_split(scope))
    if patient_level and not patient_id:
        raise ValidationFailed("Patient-level scopes need a patient_id.")


def access_token_issue(
    *,
    client_id: str,
    scope: str,
    patient_id: str | None = None,
    encounter_id: str | None = None,
    fhir_user: str | None = None,
    expires_in: int = ACCESS_SECONDS,
) -> str:
    """Mint an access token directly (tests and the simulator call it directly); returns the token."""
    _check_scope(scope, patient_id)
    context = TokenContext(patient_id=patient_id or "", encounter_id=encounter_id or "", fhir_user=fhir_user or "")
    return token_create(
        client_id=client_id,
        scope=scope,
        context=context,
        kind=IssuedToken.Kind.ACCESS,
        lifetime=timedelta(seconds=expires_in),
    )


def token_create(
    *,
    client_id: str,
    scope: str,
    context: TokenContext,
    kind: str,
    lifetime: timedelta,
    code: AuthorizationCode | None = None,
) -> str:
    """Store a new access or refresh token (hash only) and return its value."""
    value = _secret()
    IssuedToken.objects.create(
        token_hash=token_digest(value),
        kind=kind,
        client_id=client_id,
        scope=" ".join(scope_split(scope)),
        patient_id=context.patient_id,
        encounter_id=context.encounter_id,
        fhir_user=context.fhir_user,
        app_context=context.app_context,
        need_patient_banner=context.need_patient_banner,
        code=code,
        expires_at=timezone.now() + lifetime,
    )
    return value


def token_revoke_for_code(code: AuthorizationCode) -> int:
    """Revoke every token issued from a code (RFC 6749 §4.1.2: a replayed code revokes them)."""
    return IssuedToken.objects.filter(code=code, revoked_at__isnull=True).update(revoked_at=timezone.now())


def launch_create(*, patient_id: str, encounter_id: str | None = None, app_context: str = "") -> str:
    """A new EHR launch value bound to patient (+ encounter, + appContext); single-use, 5 minutes."""
    if not patient_id:
        raise ValidationFailed("An EHR launch needs a patient.")
    value = _secret()
    Launch.objects.create(
        value_hash=token_digest(value),
        patient_id=patient_id,
        encounter_id=encounter_id or "",
        app_context=app_context,
        expires_at=timezone.now() + timedelta(seconds=LAUNCH_SECONDS),
    )
    return value


@transaction.atomic
def launch_consume(value: str) -> Launch | None:
    """Resolve a launch value once: None when unknown, expired or already used."""
    launch = Launch.objects.select_for_update().filter(value_hash=token_digest(value)).first()
    if launch is None or launch.used_at is not None or launch.expires_at <= timezone.now():
        return None
    launch.used_at = timezone.now()
    launch.save(update_fields=["used_at"])
    return launch


def code_create(
    *, client_id: str, redirect_uri: str, scope: str, code_challenge: str, nonce: str, context: TokenContext
) -> str:
    """A new authorization code (2 minutes, single use) holding the PKCE challenge and context."""
    value = _secret()
    AuthorizationCode.objects.create(
        code_hash=token_digest(value),
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=scope,
        code_challenge=code_challenge,
        nonce=nonce,
        patient_id=context.patient_id,
        encounter_id=context.encounter_id,
        fhir_user=context.fhir_user,
        app_context=context.app_context,
        need_patient_banner=context.need_patient_banner,
        expires_at=timezone.now() + timedelta(seconds=CODE_SECONDS),
    )
    return value


def expired_purge(now: datetime | None = None) -> dict[str, int]:
    """Delete what can no longer be used: expired tokens, launches and assertion `jti`s, and expired codes
    with no live token left (a replayed code must still be able to revoke its tokens). One transaction."""
    now = now or timezone.now()
    with transaction.atomic():
        return {
            "sandbox_tokens": IssuedToken.objects.filter(expires_at__lt=now).delete()[0],
            "sandbox_codes": AuthorizationCode.objects.filter(expires_at__lt=now)
            .exclude(tokens__expires_at__gte=now)
            .delete()[0],
            "sandbox_launches": Launch.objects.filter(expires_at__lt=now).delete()[0],
            "sandbox_assertions": UsedAssertion.objects.filter(expires_at__lt=now).delete()[0],
        }
