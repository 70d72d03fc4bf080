"""Authenticate a device source: a SMART Backend Services-style signed JWT per request (the only JOSE user here).

Why a signed JWT rather than HMAC: the source keeps its private key and we hold only its public JWKS (inline
or at a URL, rotated by publishing a new `kid`), so nothing on our side can be stolen to forge its events, and
the checks are those the product already runs for CDS clients (cds_hooks.trust) and EHRs (SMART App Launch
2.2 "Backend Services", https://hl7.org/fhir/smart-app-launch/backend-services.html, client authentication).

The request carries `Authorization: Bearer <JWT>`: header `alg` ES256/ES384/RS256/RS384, `typ` "JWT", a
`kid`; claims `iss` = `sub` = the source's registered name, `aud` = the URL called, `exp` at most
REALTIME_JWT_MAX_LIFETIME_SECONDS ahead, a `jti` used once (the replay store shared by every process,
cds_hooks.replay). Every refusal is the same generic 401; the precise reason goes to the audit trail
(`device_auth_failure`).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest
from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, ClaimError, DecodeError, JoseError
from joserfc.jwk import KeySet

from audit.models import AuditRecord
from audit.services import audit_record_create
from cds_hooks.replay import jti_first_use
from cds_hooks.trust import ALLOWED_ALGORITHMS, printable
from config import jwks
from config.ttl_cache import TtlCache
from realtime.errors import DeviceAuthenticationFailed
from realtime.models import DeviceSource

SOURCE_TTL_SECONDS = 5.0  # a disabled source is refused within this
_SOURCES: TtlCache[str, DeviceSource | None] = TtlCache(SOURCE_TTL_SECONDS)


def device_source_verify(request: HttpRequest) -> DeviceSource:
    """The device source whose valid JWT the request carries, or DeviceAuthenticationFailed (audited, 401)."""
    try:
        return _verify(_bearer(request), expected_aud=settings.PUBLIC_BASE_URL + request.path)
    except DeviceAuthenticationFailed as exc:
        source = printable(exc.source)
        audit_record_create(
            action=AuditRecord.Action.DEVICE_AUTH_FAILURE,
            outcome=AuditRecord.Outcome.DENIED,
            actor=f"device:{source}" if source else "device:unknown",
            detail={"reason": printable(exc.reason), "path": printable(request.path)},
        )
        raise


def device_sources_forget() -> None:
    """Drop the per-process memo of sources (after admin changes, and in tests)."""
    _SOURCES.clear()


def _bearer(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise DeviceAuthenticationFailed("missing bearer token")
    return token.strip()


def _verify(token: str, *, expected_aud: str) -> DeviceSource:
    header, claims = _unverified(token)
    name = claims.get("iss") if isinstance(claims.get("iss"), str) else ""
    name = printable(str(name))[:200]
    _check_header(header, name)
    source = (
        _SOURCES.get(
            name, lambda: DeviceSource.objects.select_related("registration").filter(name=name, enabled=True).first()
        )
        if name
        else None
    )
    if source is None:
        raise DeviceAuthenticationFailed("unknown or disabled source", source=name)
    try:
        verified = jwt.decode(token, _signing_key(source, header["kid"]), algorithms=[str(header["alg"])]).claims
    except BadSignatureError as exc:
        raise DeviceAuthenticationFailed("bad signature", source=name) from exc
    except JoseError as exc:
        raise DeviceAuthenticationFailed(f"undecodable token: {exc.error}", source=name) from exc
    _check_claims(verified, name, expected_aud)
    if not jti_first_use(iss=f"device:{name}", jti=str(verified["jti"]), exp=verified["exp"]):
        raise DeviceAuthenticationFailed("replayed jti", source=name)
    return source


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims before verification: used only to pick the source and its key."""
    try:
        compact = jws.extract_compact(token.encode())
        claims = orjson.loads(compact.payload)
    except (DecodeError, JoseError, orjson.JSONDecodeError, ValueError) as exc:
        raise DeviceAuthenticationFailed("malformed token") from exc
    if not isinstance(claims, dict):
        raise DeviceAuthenticationFailed("claims are not an object")
    return dict(compact.headers()), claims


def _check_header(header: dict[str, Any], name: str) -> None:
    if header.get("alg") not in ALLOWED_ALGORITHMS:
        raise DeviceAuthenticationFailed(f"algorithm not allowed: {str(header.get('alg'))[:20]}", source=name)
    if header.get("typ") != "JWT" or not isinstance(header.get("kid"), str) or not header["kid"]:
        raise DeviceAuthenticationFailed("header needs typ JWT and a kid", source=name)


def _check_claims(claims: dict[str, Any], name: str, expected_aud: str) -> None:
    """iss = sub = the source, aud = the URL called, exp (not too far ahead), jti (SMART Backend Services)."""
    registry = jwt.JWTClaimsRegistry(
        leeway=settings.REALTIME_JWT_LEEWAY_SECONDS,
        iss={"essential": True, "value": name},
        sub={"essential": True, "value": name},
        aud={"essential": True, "value": expected_aud},
        exp={"essential": True},
        jti={"essential": True},
    )
    try:
        registry.validate(claims)
    except ClaimError as exc:
        raise DeviceAuthenticationFailed(f"claim refused: {exc.claim[:40]} ({exc.error})", source=name) from exc
    if claims["exp"] - time.time() > settings.REALTIME_JWT_MAX_LIFETIME_SECONDS + settings.REALTIME_JWT_LEEWAY_SECONDS:
        raise DeviceAuthenticationFailed("token lifetime too long", source=name)


def _signing_key(source: DeviceSource, kid: str) -> KeySet:
    try:
        if source.jwks:
            keyset = jwks.keyset_import(orjson.dumps(source.jwks))
        else:
            keyset = jwks.keyset_for_kid(
                source.jwks_url,
                kid,
                cache_key=f"realtime:jwks:{source.pk}",
                cache_seconds=settings.CDS_JWKS_CACHE_SECONDS,
                timeout=settings.CDS_JWKS_TIMEOUT_SECONDS,
                refetch_min_seconds=settings.CDS_JWKS_REFETCH_MIN_SECONDS,
            )
    except jwks.JwksUnavailable as exc:
        raise DeviceAuthenticationFailed(str(exc), source=source.name) from exc
    if not jwks.has_kid(keyset, kid):
        raise DeviceAuthenticationFailed("unknown kid", source=source.name)
    return KeySet([k for k in keyset.keys if k.kid == kid])


def registered_bases() -> list[str]:
    """The JWKS URLs of enabled device sources: bases `config.outbound` lets us reach."""
    return [u for u in DeviceSource.objects.filter(enabled=True).values_list("jwks_url", flat=True) if u]
