"""private_key_jwt client authentication (RFC 7523; SMART "Client Authentication: Asymmetric").

https://hl7.org/fhir/smart-app-launch/client-confidential-asymmetric.html: RS384 or ES384 only,
`iss` = `sub` = client_id, `aud` = the token URL, `exp` at most five minutes ahead, `jti` used once.
The client's JWKS is fetched from its registered URL (never from a `jku` header), cached, and
refetched once when the `kid` is unknown (key rotation).
"""

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from django.core.cache import cache
from django.db import IntegrityError, transaction
from joserfc import jwt
from joserfc.errors import ClaimError, ExpiredTokenError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact
from oauth2_provider.models import Application

from config import fetch
from sandbox_ehr.auth.errors import InvalidClient
from sandbox_ehr.auth.models import ClientProfile, UsedAssertion

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALLOWED_ALGORITHMS = ("RS384", "ES384")
MAX_LIFETIME_SECONDS = 300
CLOCK_SKEW_SECONDS = 30
JWKS_CACHE_SECONDS = 3600
JWKS_TIMEOUT_SECONDS = 5.0
JWKS_MAX_BYTES = 256 * 1024


def _unverified(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        compact = extract_compact(assertion.encode())
        claims = orjson.loads(compact.payload)
    except (JoseError, ValueError, orjson.JSONDecodeError) as exc:
        raise InvalidClient("The client assertion is not a well-formed JWT.") from exc
    if not isinstance(claims, dict):
        raise InvalidClient("The client assertion has no claims object.")
    return dict(compact.protected), claims


def _cache_key(url: str) -> str:
    return "sandbox_auth:jwks:" + hashlib.sha256(url.encode()).hexdigest()


def _fetch_jwks(url: str) -> dict[str, Any]:
    try:
        document = fetch.json_fetch(url, timeout=JWKS_TIMEOUT_SECONDS, max_bytes=JWKS_MAX_BYTES)
    except fetch.FetchFailed as exc:
        raise InvalidClient("The client's JWKS could not be fetched from its registered URL.") from exc
    if not isinstance(document.get("keys"), list):
        raise InvalidClient("The client's JWKS URL did not return a JWK Set.")
    cache.set(_cache_key(url), document, JWKS_CACHE_SECONDS)
    return document


def client_jwk(url: str, kid: str) -> Any:
    """The client's public key with `kid` (cached JWKS, refetched once if the kid is unknown)."""
    cached = cache.get(_cache_key(url))
    if cached is not None:
        key = _key_in(cached, kid)
        if key is not None:
            return key
    key = _key_in(_fetch_jwks(url), kid)
    if key is None:
        raise InvalidClient("No key with the assertion's kid in the client's JWKS.")
    return key


def _key_in(document: dict[str, Any], kid: str) -> Any:
    try:
        return KeySet.import_key_set(document).get_by_kid(kid)  # type: ignore[arg-type]
    except (ValueError, JoseError, KeyError, TypeError):
        return None


def _client(client_id: Any) -> Application:
    app = Application.objects.select_related("smart_profile").filter(client_id=str(client_id)).first()
    profile = getattr(app, "smart_profile", None) if app else None
    if app is None or profile is None or profile.auth_method != ClientProfile.AuthMethod.PRIVATE_KEY_JWT:
        raise InvalidClient("Unknown client, or the client is not registered for private_key_jwt.")
    if not profile.jwks_uri:
        raise InvalidClient("The client has no registered JWKS URL.")
    return app


def _check_claims(claims: dict[str, Any], audiences: tuple[str, ...]) -> None:
    registry = jwt.JWTClaimsRegistry(
        leeway=CLOCK_SKEW_SECONDS,
        aud={"essential": True, "values": list(audiences)},
        exp={"essential": True},
        jti={"essential": True},
    )
    try:
        registry.validate(claims)
    except ClaimError as exc:
        raise InvalidClient(_claim_error(exc)) from exc
    if claims["exp"] > time.time() + MAX_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS:
        raise InvalidClient("The client assertion's exp is more than five minutes ahead.")


_CLAIM_ERRORS = {
    "aud": "The client assertion's aud is not this token endpoint.",
    "exp": "The client assertion has expired or has no exp.",
    "jti": "The client assertion has no jti.",
}


def _claim_error(exc: ClaimError) -> str:
    """The error_description of a refused claim (the first one, when several are missing)."""
    claim = "exp" if isinstance(exc, ExpiredTokenError) else exc.claim.split(",")[0]
    return _CLAIM_ERRORS.get(claim, f"The client assertion's {claim[:40]} claim is invalid.")


def _record_jti(client_id: str, claims: dict[str, Any]) -> None:
    expires = datetime.fromtimestamp(float(claims["exp"]) + CLOCK_SKEW_SECONDS, tz=UTC)
    try:
        with transaction.atomic():
            UsedAssertion.objects.create(client_id=client_id, jti=claims["jti"][:255], expires_at=expires)
    except IntegrityError as exc:
        raise InvalidClient("The client assertion's jti was already used.") from exc


def client_assertion_verify(*, assertion_type: str, assertion: str, audiences: tuple[str, ...]) -> Application:
    """Authenticate a client by its signed JWT; returns the Application or raises InvalidClient (401)."""
    if assertion_type != ASSERTION_TYPE:
        raise InvalidClient(f"client_assertion_type must be {ASSERTION_TYPE}.")
    header, claims = _unverified(assertion)
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALLOWED_ALGORITHMS:
        raise InvalidClient(f"The client assertion must be signed with one of {', '.join(ALLOWED_ALGORITHMS)}.")
    if not isinstance(kid, str) or not kid:
        raise InvalidClient("The client assertion header has no kid.")
    if claims.get("iss") != claims.get("sub"):
        raise InvalidClient("The client assertion's iss and sub must both be the client_id.")
    app = _client(claims.get("iss"))
    key = client_jwk(app.smart_profile.jwks_uri, kid)
    try:
        verified = jwt.decode(assertion, key, algorithms=[alg]).claims
    except (JoseError, ValueError) as exc:
        raise InvalidClient("The client assertion's signature does not verify.") from exc
    _check_claims(verified, audiences)
    _record_jti(app.client_id, claims)
    return app
