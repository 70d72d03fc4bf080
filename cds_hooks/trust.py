"""Trusting CDS Clients: verify the JWT every CDS Hooks call carries (the only JOSE user of cds_hooks).

Spec: https://cds-hooks.hl7.org/2.0/#trusting-cds-clients. The client signs a short-lived JWT
(iss, aud = the service URL called, exp, iat, jti, optional tenant) with a key published in its
JWKS; the header carries `alg`, `kid` and `typ` = "JWT" (all three required by the spec's JWT header
table). We check, in this order: the header (`typ` JWT, a `kid`, no control characters), the algorithm
allowlist (asymmetric only: never `none` or HS*), a registered and enabled `iss`, the signature against
the client's JWKS (cached; refetched once on an unknown `kid`, rate-limited), `aud`, `exp`/`iat`/`nbf`
with small skew, `tenant`, then the `jti` replay store shared by every process (cds_hooks.replay).
Every refusal is the same generic 401; the precise reason goes to the audit trail (`cds_auth_failure`).
"""

import hashlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from django.conf import settings
from django.http import HttpRequest
from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, ClaimError, DecodeError, ExpiredTokenError, JoseError, MissingClaimError
from joserfc.jwk import KeySet

from audit.models import AuditRecord
from audit.services import audit_record_create
from cds_hooks.errors import CdsAuthenticationFailed
from cds_hooks.models import TrustedCdsClient
from cds_hooks.replay import jti_claim, jti_claim_after_error, jti_deferrable, jti_first_use
from config import jwks, outbound
from config.errors import DATABASE_ERRORS
from config.ttl_cache import TtlCache

ALLOWED_ALGORITHMS = ("ES256", "ES384", "RS256", "RS384")
# Registered clients are re-read at most this often per process (a disable applies within it).
CLIENT_TTL_SECONDS = 5.0
_CLIENTS: TtlCache[str, TrustedCdsClient | None] = TtlCache(CLIENT_TTL_SECONDS)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class CdsCaller:
    """A verified CDS Client call."""

    iss: str
    sub: str
    jti: str
    tenant: str
    client_id: int
    fhir_servers: tuple[str, ...] = ()  # the FHIR bases this client's hooks may name (normalized)
    expires: float = 0.0  # the token's exp
    replay_pending: bool = False  # the jti is to be claimed in the call's recording transaction (`caller_claim`)


def cds_caller_verify(request: HttpRequest, *, defer_replay: bool = False) -> CdsCaller:
    """Verify the request's bearer JWT or raise CdsAuthenticationFailed (audited, generic 401).

    `defer_replay` (the CDS service call): with the database store, the jti is claimed later, in the call's
    recording transaction (`caller_claim`), and the caller must answer a replay found there with
    `caller_replayed` and claim it on any error before (`caller_claim_after_error`)."""
    try:
        return _verify(_bearer(request), expected_aud=settings.PUBLIC_BASE_URL + request.path, defer=defer_replay)
    except CdsAuthenticationFailed as exc:
        _refused(request, exc)
        raise


def _refused(request: HttpRequest, exc: CdsAuthenticationFailed) -> None:
    iss, reason = printable(exc.iss), printable(exc.reason)  # a token's text may hold NUL bytes
    audit_record_create(
        action="cds_auth_failure",
        outcome=AuditRecord.Outcome.DENIED,
        actor=f"cds:{iss}" if iss else "cds:unknown",
        detail={"reason": reason, "path": printable(request.path)},
    )


def caller_claim(caller: CdsCaller) -> None:
    """Inside the call's recording transaction: claim a deferred jti (raises TokenReplayed for a replay)."""
    if caller.replay_pending:
        jti_claim(iss=caller.iss, jti=caller.jti, exp=caller.expires)


def caller_claim_after_error(caller: CdsCaller) -> None:
    """The call failed before its recording transaction committed: claim a deferred jti on its own."""
    if caller.replay_pending:
        jti_claim_after_error(iss=caller.iss, jti=caller.jti, exp=caller.expires)


def caller_replayed(request: HttpRequest, caller: CdsCaller) -> CdsAuthenticationFailed:
    """The deferred jti was used before: audited as every refusal; the 401 to raise."""
    exc = CdsAuthenticationFailed("replayed jti", iss=caller.iss)
    _refused(request, exc)
    return exc


def printable(text: str) -> str:
    """`text` with control characters (NUL included) replaced, safe for the database and the logs."""
    return _CONTROL.sub("?", text)


def _bearer(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise CdsAuthenticationFailed("missing bearer token")
    return token.strip()


def _verify(token: str, *, expected_aud: str, defer: bool = False) -> CdsCaller:
    header, claims = _unverified(token)
    iss = _iss(claims)
    _check_header(header, iss)
    client = _trusted_client(iss) if iss else None
    if client is None:
        raise CdsAuthenticationFailed("unknown or disabled issuer", iss=iss)
    alg = str(header["alg"])
    key = _signing_key(client, header["kid"], iss)
    try:
        verified = jwt.decode(token, key, algorithms=[alg]).claims
    except BadSignatureError as exc:
        raise CdsAuthenticationFailed("bad signature", iss=iss) from exc
    except JoseError as exc:
        raise CdsAuthenticationFailed(f"undecodable token: {exc.error}", iss=iss) from exc
    _check_claims(verified, client, expected_aud)
    deferred = defer and jti_deferrable()
    if not deferred:
        _check_replay(verified)
    return CdsCaller(
        iss=iss,
        sub=str(verified.get("sub", "")),
        jti=str(verified["jti"]),
        tenant=str(verified.get("tenant", "")),
        client_id=client.pk,
        fhir_servers=client.fhir_server_list,
        expires=float(verified["exp"]),
        replay_pending=deferred,
    )


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims before verification: used only to pick the issuer and key."""
    try:
        compact = jws.extract_compact(token.encode())
        claims = orjson.loads(compact.payload)
    except (DecodeError, JoseError, orjson.JSONDecodeError, ValueError) as exc:
        raise CdsAuthenticationFailed("malformed token") from exc
    if not isinstance(claims, dict):
        raise CdsAuthenticationFailed("claims are not an object")
    return dict(compact.headers()), claims


def _check_header(header: dict[str, Any], iss: str) -> None:
    """No control characters, an allowed `alg`, `typ` "JWT" and a `kid` (CDS Hooks 2.0 JWT header table)."""
    if any(isinstance(v, str) and _CONTROL.search(v) for v in header.values()):
        raise CdsAuthenticationFailed("malformed header (control characters)", iss=iss)
    if header.get("alg") not in ALLOWED_ALGORITHMS:
        raise CdsAuthenticationFailed(f"algorithm not allowed: {str(header.get('alg'))[:20]}", iss=iss)
    if header.get("typ") != "JWT":
        raise CdsAuthenticationFailed(f"typ must be JWT, not {str(header.get('typ'))[:20]}", iss=iss)
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        raise CdsAuthenticationFailed("token has no kid", iss=iss)


def _trusted_client(iss: str) -> TrustedCdsClient | None:
    """The enabled client of this issuer, from a short per-process memo (one query per TTL); the last one read
    while our database is down (nobody can change it then)."""
    return _CLIENTS.get(
        iss, lambda: TrustedCdsClient.objects.filter(iss=iss, enabled=True).first(), stale_on=DATABASE_ERRORS
    )


def trusted_clients_forget() -> None:
    """Drop the per-process memos of clients and of registered bases (after admin changes, and in tests)."""
    _CLIENTS.clear()
    outbound.registered_forget()


def registered_bases() -> list[str]:
    """The FHIR servers and JWKS URLs of enabled clients: bases `config.outbound` lets us reach."""
    bases: list[str] = []
    for client in TrustedCdsClient.objects.filter(enabled=True).only("fhir_servers", "jwks_url"):
        bases += [*client.fhir_server_list, *([client.jwks_url] if client.jwks_url else [])]
    return bases


def _iss(claims: dict[str, Any]) -> str:
    """The claimed issuer ("" when absent, not a string, or holding control characters: never a registered one)."""
    iss = claims.get("iss")
    return iss[:500] if isinstance(iss, str) and not _CONTROL.search(iss) else ""


def _claims_registry(client: TrustedCdsClient, expected_aud: str) -> jwt.JWTClaimsRegistry:
    """aud = the URL called, exp and iat (with leeway), a non-empty jti, and the client's tenant if registered."""
    tenant: jwt.ClaimsOption = {"essential": True, "value": client.tenant} if client.tenant else {"allow_blank": True}
    return jwt.JWTClaimsRegistry(
        leeway=settings.CDS_JWT_LEEWAY_SECONDS,
        aud={"essential": True, "value": expected_aud},
        exp={"essential": True},
        iat={"essential": True},
        jti={"essential": True},
        tenant=tenant,
    )


def _check_claims(claims: dict[str, Any], client: TrustedCdsClient, expected_aud: str) -> None:
    try:
        _claims_registry(client, expected_aud).validate(claims)
    except ClaimError as exc:
        raise CdsAuthenticationFailed(_claim_reason(exc, claims, expected_aud), iss=client.iss) from exc
    if claims["exp"] - claims["iat"] > settings.CDS_JWT_MAX_LIFETIME_SECONDS:
        raise CdsAuthenticationFailed("token lifetime too long", iss=client.iss)


def _claim_reason(exc: ClaimError, claims: dict[str, Any], expected_aud: str) -> str:
    """The audited reason of a refused claim (the first one, when several are missing)."""
    if isinstance(exc, ExpiredTokenError):
        return "token expired"
    claim = exc.claim.split(",")[0] if isinstance(exc, MissingClaimError) else exc.claim
    if claim == "iat" and isinstance(claims.get("iat"), int | float):
        return "iat in the future"
    if claim == "nbf" and isinstance(claims.get("nbf"), int | float):
        return "nbf in the future"
    return {
        "aud": f"aud mismatch (expected {expected_aud})",
        "exp": "exp and iat must be numeric dates",
        "iat": "exp and iat must be numeric dates",
        "jti": "missing jti",
        "tenant": "tenant mismatch",
    }.get(claim, f"invalid claim: {claim[:40]}")


def _check_replay(claims: dict[str, Any]) -> None:
    """Each jti is accepted once while its token is valid, whichever process sees it (cds_hooks.replay)."""
    if not jti_first_use(iss=str(claims["iss"]), jti=str(claims["jti"]), exp=claims["exp"]):
        raise CdsAuthenticationFailed("replayed jti", iss=str(claims["iss"]))


# --- keys -----------------------------------------------------------------------------------------


def _signing_key(client: TrustedCdsClient, kid: str, iss: str) -> KeySet:
    keyset = _client_keyset(client, kid)
    if not jwks.has_kid(keyset, kid):
        raise CdsAuthenticationFailed("unknown kid", iss=iss)
    return KeySet([k for k in keyset.keys if k.kid == kid])


def jwks_cache_key(client: TrustedCdsClient) -> str:
    """Where a client's fetched JWKS is cached (cleared by `cds_client add`)."""
    return f"cds:jwks:{client.pk}:{hashlib.sha256(client.jwks_url.encode()).hexdigest()[:16]}"


def _client_keyset(client: TrustedCdsClient, kid: object) -> KeySet:
    """The registered inline JWKS, else the one at jwks_url (cached; refetched, rate-limited, on an unknown kid)."""
    try:
        if client.jwks:
            return jwks.keyset_import(orjson.dumps(client.jwks))
        return jwks.keyset_for_kid(
            client.jwks_url,
            kid,
            cache_key=jwks_cache_key(client),
            cache_seconds=settings.CDS_JWKS_CACHE_SECONDS,
            timeout=settings.CDS_JWKS_TIMEOUT_SECONDS,
            refetch_min_seconds=settings.CDS_JWKS_REFETCH_MIN_SECONDS,
        )
    except jwks.JwksUnavailable as exc:
        raise CdsAuthenticationFailed(str(exc), iss=client.iss) from exc


def jwks_url_allowed(url: str) -> bool:
    """https, or http only on loopback (the development sandbox EHR)."""
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"))
