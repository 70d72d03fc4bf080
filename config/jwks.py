"""A peer's published JWKS (a CDS client's, an EHR's): fetched, cached, imported once, refetched on an unknown kid.

One implementation for every verifier of the product (cds_hooks.trust, smart_launch.client). Only public
asymmetric keys (EC, RSA) are imported. When a token names a `kid` the cached set lacks (key rotation),
the set is fetched once more, at most once per `refetch_min_seconds` per cache key, so a flood of
made-up kids cannot become a flood of fetches (RFC 7517 section 4.5; CDS Hooks 2.0 "Trusting CDS Clients").
"""

import hashlib
from typing import Any

import orjson
from django.core.cache import cache
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from config import fetch

REFETCH_MIN_SECONDS = 60
MAX_JWKS_BYTES = 256 * 1024  # a JWKS of a few dozen keys is a few kB
_MEMO: dict[str, KeySet] = {}  # sha256 of the JWKS JSON -> imported KeySet (per process)


class JwksUnavailable(Exception):
    """The JWKS could not be fetched, or it is not a usable JWK Set."""


def keyset_import(raw: bytes) -> KeySet:
    """The EC/RSA keys of a JWKS document (memoized by content); raises JwksUnavailable when invalid."""
    digest = hashlib.sha256(raw).hexdigest()
    keyset = _MEMO.get(digest)
    if keyset is None:
        try:
            keys = [k for k in orjson.loads(raw)["keys"] if k.get("kty") in ("EC", "RSA")]
            keyset = KeySet.import_key_set({"keys": keys})
        except (orjson.JSONDecodeError, JoseError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise JwksUnavailable("invalid JWKS") from exc
        if len(_MEMO) > 256:
            _MEMO.clear()
        _MEMO[digest] = keyset
    return keyset


def keyset_fetch(
    url: str,
    *,
    cache_key: str,
    cache_seconds: int,
    timeout: float,
    refresh: bool = False,
    registered: bool | None = None,
) -> KeySet:
    """The JWKS at `url`, from the cache under `cache_key` unless `refresh`; raises JwksUnavailable.

    `registered`: whether `url` may be on a non-public address (see config.fetch.bytes_fetch)."""
    raw = None if refresh else cache.get(cache_key)
    if not isinstance(raw, bytes):
        raw = _download(url, timeout, registered)
        cache.set(cache_key, raw, timeout=cache_seconds)
    return keyset_import(raw)


def keyset_for_kid(
    url: str,
    kid: Any,
    *,
    cache_key: str,
    cache_seconds: int,
    timeout: float,
    refetch_min_seconds: int = REFETCH_MIN_SECONDS,
    registered: bool | None = None,
) -> KeySet:
    """The cached JWKS, fetched again (rate-limited) when it has no key `kid`; the caller checks the kid."""
    fetch_args: dict[str, Any] = {
        "cache_key": cache_key,
        "cache_seconds": cache_seconds,
        "timeout": timeout,
        "registered": registered,
    }
    keyset = keyset_fetch(url, **fetch_args)
    if (
        kid is not None
        and not has_kid(keyset, kid)
        and cache.add(f"{cache_key}:refetch", 1, timeout=refetch_min_seconds)
    ):
        keyset = keyset_fetch(url, refresh=True, **fetch_args)
    return keyset


def has_kid(keyset: KeySet, kid: Any) -> bool:
    """Whether the set holds a key with this `kid`."""
    return any(k.kid == kid for k in keyset.keys)


def _download(url: str, timeout: float, registered: bool | None) -> bytes:
    """The JWKS body, at most MAX_JWKS_BYTES, fetched within `timeout` seconds in all."""
    try:
        return fetch.bytes_fetch(url, timeout=timeout, max_bytes=MAX_JWKS_BYTES, registered=registered)
    except fetch.FetchFailed as exc:
        raise JwksUnavailable(f"JWKS unavailable: {exc.reason}") from exc
