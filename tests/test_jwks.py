"""Unit tests of config.jwks: real loopback HTTP fetch, cache, EC/RSA only, rate-limited refetch on unknown kid."""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from joserfc.jwk import ECKey

from config import jwks
from tests.cds_hooks.conftest import JwksServer


@pytest.fixture
def server(db: None, outbound_allowed: Any) -> Iterator[JwksServer]:
    """The CDS tests' loopback JWKS host (any peer's JWKS looks the same), registered as a peer's JWKS is."""
    srv = JwksServer()
    outbound_allowed(srv.url)
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def _key(kid: str) -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid})


def _fetch(server: JwksServer, kid: Any, cache_key: str) -> Any:
    return jwks.keyset_for_kid(server.url, kid, cache_key=cache_key, cache_seconds=60, timeout=3)


def test_fetched_once_then_cached(server: JwksServer) -> None:
    server.publish(_key("a"))
    cache_key = f"test:jwks:{uuid.uuid4().hex}"
    assert jwks.has_kid(_fetch(server, "a", cache_key), "a")
    assert jwks.has_kid(_fetch(server, "a", cache_key), "a")
    assert server.hits == 1


def test_unknown_kid_refetches_once_per_interval(server: JwksServer) -> None:
    server.publish(_key("a"))
    cache_key = f"test:jwks:{uuid.uuid4().hex}"
    _fetch(server, "a", cache_key)
    server.publish(_key("a"), _key("rotated"))
    assert jwks.has_kid(_fetch(server, "rotated", cache_key), "rotated")  # key rotation picked up
    assert not jwks.has_kid(_fetch(server, "made-up", cache_key), "made-up")
    assert server.hits == 2  # the made-up kid found the refetch rate-limited


def test_only_public_asymmetric_keys_are_imported(server: JwksServer) -> None:
    server.publish(_key("a"))
    server.keys.append({"kty": "oct", "kid": "s", "k": "c2VjcmV0"})
    keyset = _fetch(server, "a", f"test:jwks:{uuid.uuid4().hex}")
    assert [k.kid for k in keyset.keys] == ["a"]


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"keys": []}', b'{"keys": [{"kty": "oct", "k": "eA"}]}'])
def test_invalid_documents_are_refused(body: bytes) -> None:
    with pytest.raises(jwks.JwksUnavailable, match="invalid JWKS"):
        jwks.keyset_import(body)


def test_unreachable_url_is_refused(db: None, outbound_allowed: Any) -> None:
    outbound_allowed("http://127.0.0.1:9")
    with pytest.raises(jwks.JwksUnavailable, match="JWKS unavailable"):
        jwks.keyset_fetch(
            "http://127.0.0.1:9/jwks.json", cache_key=f"test:jwks:{uuid.uuid4().hex}", cache_seconds=60, timeout=1
        )
