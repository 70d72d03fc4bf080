"""The only module that uses authlib's OAuth client: SMART discovery, authorization URL, token calls, id_token.

Our adapter around the protocol library, in the spirit of django-oauth-toolkit's OAuthLibCore.
Spec: SMART App Launch 2.2 (https://hl7.org/fhir/smart-app-launch/) sections "Conformance"
(smart-configuration), "App Launch" (authorization with PKCE S256, `aud`, `launch`), "Scopes and
Launch Context" (v1/v2 scopes), "Client Authentication: Asymmetric" (private_key_jwt, RS384/ES384,
assertion lifetime at most five minutes) and "Backend Services" (client_credentials).
FHIR endpoints (smart-configuration, CapabilityStatement) are read through fhirapp.client.FhirClient;
only the authorization server's token endpoint and JWKS are called from here. Every one of them follows
`config.outbound`: an endpoint on the registered EHR's own origin (or itself registered) may be on a
private address; any other must resolve to public addresses only.
"""

import hashlib
import time
from dataclasses import asdict, dataclass
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from django.conf import settings
from django.core.cache import cache
from joserfc import jws, jwt
from joserfc.errors import JoseError

from config import fetch, jwks, outbound
from fhirapp.client import FhirClient
from fhirapp.errors import FhirRequestRejected, FhirServerError
from smart_launch.errors import (
    DiscoveryFailed,
    DiscoveryUnavailable,
    IdTokenInvalid,
    TokenEndpointUnavailable,
    TokenExchangeFailed,
)
from smart_launch.keys import signing_key

OAUTH_URIS_EXTENSION = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
CAPABILITIES_EXTENSION = "http://fhir-registry.smarthealthit.org/StructureDefinition/capabilities"
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"]
ASSERTION_LIFETIME_SECONDS = 300  # "no more than five minutes in the future" (SMART asymmetric auth)
CLINICAL_RESOURCES_V1_SUFFIX = ".read"
# smart-configuration, openid-configuration and style JSON are a few kB; a CapabilityStatement, a few hundred.
SMART_DOCUMENT_MAX_BYTES = 1024 * 1024
DISCOVERY_MAX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class SmartConfiguration:
    """What an EHR's authorization server supports, from discovery."""

    iss: str
    authorization_endpoint: str
    token_endpoint: str
    issuer: str = ""
    jwks_uri: str = ""
    scopes_supported: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    code_challenge_methods: tuple[str, ...] = ()
    token_auth_signing_algs: tuple[str, ...] = ()
    source: str = "smart-configuration"

    @property
    def supports_v2_scopes(self) -> bool:
        """v2 when the server says `permission-v2` or lists v2-style (`.rs`/`.cruds`) scopes."""
        if "permission-v2" in self.capabilities:
            return True
        return any(_is_v2_scope(s) for s in self.scopes_supported)


def _is_v2_scope(scope: str) -> bool:
    suffix = scope.rsplit(".", 1)[-1].split("?", 1)[0] if "/" in scope and "." in scope else ""
    return bool(suffix) and set(suffix) <= set("cruds") and suffix not in ("read",)


def _cache_key(kind: str, url: str) -> str:
    return f"smart:{kind}:{hashlib.sha256(url.encode()).hexdigest()}"


# ---------------------------------------------------------------------------------------------- discovery


def discover(iss: str, *, refresh: bool = False) -> SmartConfiguration:
    """The EHR's SMART configuration: `.well-known/smart-configuration`, else the CapabilityStatement (cached)."""
    key = _cache_key("discovery", iss)
    cached = None if refresh else cache.get(key)
    if isinstance(cached, dict):
        return SmartConfiguration(**cached)
    config = _discover_uncached(iss)
    cache.set(key, asdict(config), settings.SMART_DISCOVERY_CACHE_SECONDS)
    return config


def _discover_uncached(iss: str) -> SmartConfiguration:
    """The first document that names the endpoints; DiscoveryUnavailable when a failure may be transient."""
    transient = False
    for attempt in (_discover_well_known, _discover_capability_statement):
        try:
            config = attempt(iss)
        except FhirServerError:  # 5xx, 408, 429, timeout: the document may be there on a later try
            transient = True
            continue
        except FhirRequestRejected:
            continue
        if config is not None:
            return config
    if transient:
        raise DiscoveryUnavailable(
            "The EHR's FHIR server did not answer its SMART discovery documents in time.",
            what_to_do="Try again in a few minutes.",
            extra={"iss": iss},
        )
    raise DiscoveryFailed(
        "The EHR did not tell us where to authorize: neither its .well-known/smart-configuration nor "
        "its CapabilityStatement lists SMART OAuth endpoints.",
        what_to_do="Ask your EHR administrator to check the FHIR server address registered for this app.",
        extra={"iss": iss},
    )


def _fhir(iss: str) -> FhirClient:
    return FhirClient(iss, timeout=settings.SMART_HTTP_TIMEOUT, max_response_bytes=DISCOVERY_MAX_BYTES)


def _deadline() -> float:
    """Each discovery document must arrive within SMART_HTTP_TIMEOUT seconds in all, not per socket read."""
    return time.monotonic() + settings.SMART_HTTP_TIMEOUT


def _discover_well_known(iss: str) -> SmartConfiguration | None:
    """SMART 2.x `.well-known/smart-configuration`; None when it lists no endpoints; raises FHIR errors."""
    doc = _fhir(iss).request(
        "GET", ".well-known/smart-configuration", headers={"Accept": "application/json"}, deadline=_deadline()
    )
    if not isinstance(doc.get("authorization_endpoint"), str) or not isinstance(doc.get("token_endpoint"), str):
        return None
    return SmartConfiguration(
        iss=iss,
        authorization_endpoint=doc["authorization_endpoint"],
        token_endpoint=doc["token_endpoint"],
        issuer=str(doc.get("issuer") or ""),
        jwks_uri=str(doc.get("jwks_uri") or ""),
        scopes_supported=_strings(doc.get("scopes_supported")),
        capabilities=_strings(doc.get("capabilities")),
        code_challenge_methods=_strings(doc.get("code_challenge_methods_supported")),
        token_auth_signing_algs=_strings(doc.get("token_endpoint_auth_signing_alg_values_supported")),
    )


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _discover_capability_statement(iss: str) -> SmartConfiguration | None:
    """SMART App Launch 1.0 servers put the endpoints in `rest.security.extension` (oauth-uris)."""
    statement = _fhir(iss).get("metadata", deadline=_deadline())
    for rest in statement.get("rest") or []:
        security = rest.get("security") or {}
        uris: dict[str, str] = {}
        capabilities: list[str] = []
        for ext in security.get("extension") or []:
            if ext.get("url") == OAUTH_URIS_EXTENSION:
                uris = {e.get("url"): e.get("valueUri") for e in ext.get("extension") or [] if e.get("valueUri")}
            elif ext.get("url") == CAPABILITIES_EXTENSION and isinstance(ext.get("valueCode"), str):
                capabilities.append(ext["valueCode"])
        if uris.get("authorize") and uris.get("token"):
            return SmartConfiguration(
                iss=iss,
                authorization_endpoint=uris["authorize"],
                token_endpoint=uris["token"],
                capabilities=tuple(capabilities),
                source="capability-statement",
            )
    return None


# ---------------------------------------------------------------------------------------------- scopes


def launch_scopes(*, config: SmartConfiguration, clinical_scopes: str, standalone: bool, offline_access: bool) -> str:
    """`launch openid fhirUser` (or `launch/patient` standalone) plus clinical scopes in the server's dialect."""
    base = ["launch/patient" if standalone else "launch", "openid", "fhirUser"]
    clinical = clinical_scopes.split()
    if not config.supports_v2_scopes:
        clinical = [v1_scope(s) for s in clinical]
    if offline_access:
        base.append("offline_access")
    return " ".join(dict.fromkeys(base + clinical))


def v1_scope(scope: str) -> str:
    """`patient/Observation.rs` -> `patient/Observation.read` (SMART 2.x "Scopes for requesting clinical data")."""
    if not _is_v2_scope(scope):
        return scope
    resource, permissions = scope.split("?", 1)[0].rsplit(".", 1)
    return f"{resource}.read" if set(permissions) <= set("rs") else f"{resource}.*"


# ---------------------------------------------------------------------------------------------- authorize


def authorization_url(
    *,
    config: SmartConfiguration,
    client_id: str,
    redirect_uri: str,
    scope: str,
    state: str,
    nonce: str,
    code_verifier: str,
    launch: str | None,
) -> str:
    """The authorization request URL: response_type=code, PKCE S256 always, aud=iss, launch when given."""
    session = OAuth2Session(client_id, scope=scope, redirect_uri=redirect_uri, code_challenge_method="S256")
    params: dict[str, str] = {"aud": config.iss, "nonce": nonce}
    if launch:
        params["launch"] = launch
    url, _ = session.create_authorization_url(
        config.authorization_endpoint, state=state, code_verifier=code_verifier, **params
    )
    return str(url)


# ---------------------------------------------------------------------------------------------- token calls


def _peer(config: SmartConfiguration, url: str) -> bool:
    """Whether `url`, named by the EHR's discovery, may be on a non-public address (see config.outbound)."""
    return outbound.peer_registered(url, registered_base=config.iss)


def _guarded(config: SmartConfiguration, session: OAuth2Session) -> OAuth2Session:
    """The token endpoint's session: no redirects followed, and the address policy unless the endpoint is
    the registered EHR's own."""
    session.max_redirects = 0  # a redirect raises TooManyRedirects: a token request never goes elsewhere
    return session if _peer(config, config.token_endpoint) else outbound.guard(session)


def _session(*, config: SmartConfiguration, client_id: str, confidential: bool, **kwargs: Any) -> OAuth2Session:
    if not confidential:
        return _guarded(
            config,
            OAuth2Session(
                client_id,
                token_endpoint_auth_method="none",  # noqa: S106
                **kwargs,
            ),
        )
    supported = config.token_auth_signing_algs or ("ES384", "RS384")
    try:
        key, alg, kid = signing_key(preferred_algs=tuple(a for a in ("ES384", "RS384") if a in supported) or ("RS384",))
    except LookupError as exc:
        raise TokenExchangeFailed(
            "Stratify has no signing key to authenticate to the EHR with.",
            what_to_do="Ask the Stratify administrator to run `manage.py smart_keys rotate`.",
        ) from exc
    session = OAuth2Session(client_id, client_secret=key, token_endpoint_auth_method="private_key_jwt", **kwargs)  # noqa: S106  (a method name)
    session.register_client_auth_method(
        PrivateKeyJWT(
            config.token_endpoint,
            alg=alg,
            headers={"kid": kid, "typ": "JWT"},
            claims={"exp": int(time.time()) + ASSERTION_LIFETIME_SECONDS},
        )
    )
    return _guarded(config, session)


def _token_call(session: OAuth2Session, what: str, **kwargs: Any) -> dict[str, Any]:
    for hook in ("access_token_response", "refresh_token_response"):
        session.register_compliance_hook(hook, _raise_transient_status)
    try:
        token = dict(session.fetch_token(timeout=settings.SMART_HTTP_TIMEOUT, **kwargs))
    except OAuthError as exc:
        raise TokenExchangeFailed(
            f"The EHR's authorization server refused the {what} ({exc.error}).",
            extra={"error": exc.error, "error_description": (exc.description or "")[:300]},
        ) from exc
    except outbound.AddressRefused as exc:
        raise TokenExchangeFailed(
            f"The EHR's token endpoint for the {what} is on a non-public address that is not registered.",
            extra={"address": exc.address},
        ) from exc
    except (requests.RequestException, ValueError) as exc:
        error = TokenEndpointUnavailable if _transient(exc) else TokenExchangeFailed
        raise error(
            f"The EHR's authorization server did not complete the {what}.", extra={"reason": type(exc).__name__}
        ) from exc
    finally:
        session.close()
    if not isinstance(token.get("access_token"), str) or not token["access_token"]:
        raise TokenExchangeFailed(f"The EHR's {what} answer has no access token.")
    return token


def _raise_transient_status(response: requests.Response) -> requests.Response:
    """A 5xx, 408 or 429 answer is transient even when its body is an OAuth error (authlib would read that as a
    definite refusal): raise it as an HTTP error, which `_token_call` maps to TokenEndpointUnavailable."""
    if fetch.transient_status(response.status_code):
        response.raise_for_status()
    return response


def _transient(exc: Exception) -> bool:
    """Network failures, timeouts and 5xx/408/429 answers of the token endpoint may pass; anything else will not."""
    if isinstance(exc, requests.HTTPError):
        return exc.response is not None and fetch.transient_status(exc.response.status_code)
    return isinstance(exc, requests.ConnectionError | requests.Timeout)


def token_exchange(
    *, config: SmartConfiguration, client_id: str, confidential: bool, code: str, code_verifier: str, redirect_uri: str
) -> dict[str, Any]:
    """Exchange the authorization code (with the PKCE verifier; private_key_jwt when confidential)."""
    session = _session(config=config, client_id=client_id, confidential=confidential, redirect_uri=redirect_uri)
    return _token_call(
        session,
        "code exchange",
        url=config.token_endpoint,
        grant_type="authorization_code",
        code=code,
        code_verifier=code_verifier,
    )


def token_refresh(
    *, config: SmartConfiguration, client_id: str, confidential: bool, refresh_token: str
) -> dict[str, Any]:
    """A new access token from a refresh token."""
    session = _session(config=config, client_id=client_id, confidential=confidential)
    return _token_call(
        session, "token refresh", url=config.token_endpoint, grant_type="refresh_token", refresh_token=refresh_token
    )


def client_credentials_token(*, config: SmartConfiguration, client_id: str, scope: str) -> dict[str, Any]:
    """SMART Backend Services: client_credentials with a private_key_jwt assertion."""
    session = _session(config=config, client_id=client_id, confidential=True, scope=scope)
    return _token_call(
        session, "backend token request", url=config.token_endpoint, grant_type="client_credentials", scope=scope
    )


# ---------------------------------------------------------------------------------------------- id_token


def _get_json(url: str, *, iss: str) -> dict[str, Any]:
    """A small JSON document named by the EHR registered as `iss`."""
    return fetch.json_fetch(
        url,
        timeout=settings.SMART_HTTP_TIMEOUT,
        max_bytes=SMART_DOCUMENT_MAX_BYTES,
        registered=outbound.peer_registered(url, registered_base=iss),
    )


def _jwks_uri(config: SmartConfiguration) -> str:
    uri = config.jwks_uri
    if not uri and config.issuer:
        openid = config.issuer.rstrip("/") + "/.well-known/openid-configuration"
        uri = str(_get_json(openid, iss=config.iss).get("jwks_uri") or "")
    if not uri:
        raise IdTokenInvalid("The EHR publishes no keys to verify its id_token with.")
    return uri


def id_token_validate(*, config: SmartConfiguration, id_token: str, client_id: str, nonce: str) -> dict[str, Any]:
    """Verify the id_token: signature by the EHR's JWKS, then iss, aud, exp (and iat) and nonce."""
    try:
        uri = _jwks_uri(config)
        kid = jws.extract_compact(id_token.encode()).headers().get("kid")
        keyset = jwks.keyset_for_kid(
            uri,
            kid,
            cache_key=_cache_key("jwks", uri),
            timeout=settings.SMART_HTTP_TIMEOUT,
            cache_seconds=settings.SMART_DISCOVERY_CACHE_SECONDS,
            registered=_peer(config, uri),
        )
        token = jwt.decode(id_token, keyset, algorithms=ID_TOKEN_ALGORITHMS)
        registry = jwt.JWTClaimsRegistry(
            leeway=30,
            iss={"essential": True, "value": config.issuer or config.iss},
            aud={"essential": True, "value": client_id},
            exp={"essential": True},
            nonce={"essential": True, "value": nonce},
            sub={"essential": True},
        )
        registry.validate(token.claims)
    except (JoseError, ValueError) as exc:
        raise IdTokenInvalid(
            f"The EHR's identity token did not verify ({type(exc).__name__}).", extra={"reason": str(exc)[:200]}
        ) from exc
    except (fetch.FetchFailed, jwks.JwksUnavailable) as exc:
        raise IdTokenInvalid(
            "The EHR's signing keys could not be fetched to verify its identity token.",
            extra={"reason": type(exc).__name__},
        ) from exc
    return dict(token.claims)


# ---------------------------------------------------------------------------------------------- styling


def style_fetch(url: str, *, iss: str) -> dict[str, Any]:
    """The `smart_style_url` JSON of the EHR registered as `iss` (cached); {} when it cannot be read.
    Callers validate every value."""
    if not url.startswith(("https://", "http://")):
        return {}
    key = _cache_key("style", url)
    cached = cache.get(key)
    if isinstance(cached, dict):
        return cached
    try:
        data = _get_json(url, iss=iss)
    except fetch.FetchFailed:
        return {}
    cache.set(key, data, settings.SMART_DISCOVERY_CACHE_SECONDS)
    return data
