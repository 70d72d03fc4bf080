"""Bearer-token access for the sandbox FHIR server: `authenticate_request(request) -> AccessGrant`.

See docs/architecture.md#sandbox-access-grants. The grant answers `allows(resource_type, interaction)` from SMART v2
(`cruds`) and v1 (`read`/`write`/`*`) scopes in the `patient/`, `user/` and `system/` contexts; the
FHIR server additionally restricts patient-level access to the `patient_id` compartment.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from django.http import HttpRequest
from django.utils import timezone

from config.errors import AuthenticationFailed
from sandbox_ehr.auth.models import IssuedToken
from sandbox_ehr.auth.scopes import INTERACTION_PERMISSION, ResourceScope, resource_scope_parse, scope_split


@dataclass(frozen=True)
class AccessGrant:
    """What one access token allows: client, scopes and launch context."""

    client_id: str
    scopes: tuple[str, ...]
    patient_id: str | None = None
    encounter_id: str | None = None
    fhir_user: str | None = None
    expires_at: datetime | None = None
    _resource_scopes: tuple[ResourceScope, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def from_scope(
        cls,
        *,
        client_id: str,
        scope: str,
        patient_id: str | None = None,
        encounter_id: str | None = None,
        fhir_user: str | None = None,
        expires_at: datetime | None = None,
    ) -> "AccessGrant":
        """Build a grant from a scope string; `patient_id` is kept only with patient-level scopes."""
        scopes = tuple(scope_split(scope))
        parsed = tuple(s for s in map(resource_scope_parse, scopes) if s is not None)
        patient_level = any(s.context == "patient" for s in parsed)
        return cls(
            client_id=client_id,
            scopes=scopes,
            patient_id=patient_id if patient_level else None,
            encounter_id=encounter_id,
            fhir_user=fhir_user,
            expires_at=expires_at,
            _resource_scopes=parsed,
        )

    def allows(self, resource_type: str, interaction: str) -> bool:
        """True when some scope grants `interaction` (read|vread|search|create|update|delete) on the type."""
        letter = _permission(interaction)
        return any(s.covers(resource_type) and letter in s.permissions for s in self._resource_scopes)

    def patient_restricted(self, resource_type: str, interaction: str) -> bool:
        """True when only patient-level scopes allow this, so access is limited to `patient_id`'s compartment."""
        letter = _permission(interaction)
        matching = [s for s in self._resource_scopes if s.covers(resource_type) and letter in s.permissions]
        return bool(matching) and all(s.context == "patient" for s in matching)


def _permission(interaction: str) -> str:
    try:
        return INTERACTION_PERMISSION[interaction]
    except KeyError:
        raise ValueError(f"unknown FHIR interaction {interaction!r}") from None


def token_digest(token: str) -> str:
    """SHA-256 hex of a token: the only form in which tokens are stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def _bearer(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed(
            "A bearer access token is required.",
            extra={"hint": "Send 'Authorization: Bearer <token>' from the sandbox authorization server."},
        )
    return token.strip()


def access_grant_for_token(token: str) -> AccessGrant:
    """Look up an access token; AuthenticationFailed when unknown, revoked or expired."""
    row = IssuedToken.objects.filter(token_hash=token_digest(token), kind=IssuedToken.Kind.ACCESS).first()
    if row is None or row.revoked_at is not None or row.expires_at <= timezone.now():
        raise AuthenticationFailed("The access token is invalid or has expired.")
    return AccessGrant.from_scope(
        client_id=row.client_id,
        scope=row.scope,
        patient_id=row.patient_id or None,
        encounter_id=row.encounter_id or None,
        fhir_user=row.fhir_user or None,
        expires_at=row.expires_at,
    )


def authenticate_request(request: HttpRequest) -> AccessGrant:
    """The grant of the request's bearer token; raises AuthenticationFailed (401) otherwise."""
    return access_grant_for_token(_bearer(request))
