"""Fixtures for the sandbox authorization server: a real HTTP JWKS host, registered clients, PKCE."""
import base64
import hashlib
import http.server
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from sandbox_ehr.auth import endpoints
from sandbox_ehr.auth.models import ClientProfile
from sandbox_ehr.auth.setup import client_ensure, client_specs


@dataclass
class JwksHost:
    """A JWKS document served over real HTTP from a thread; `fetches` counts GETs."""

    url: str = ""
    keys: list[dict[str, Any]] = field(default_factory=list)
    fetches: int = 0

    def add(self, key: RSAKey | ECKey, alg: str) -> str:
        kid = uuid.uuid4().hex
        self.keys.append({**key.as_dict(private=False), "kid": kid, "alg": alg, "use": "sig"})
        return kid


@pytest.fixture
def jwks_host() -> Iterator[JwksHost]:
    host = JwksHost()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            host.fetches += 1
            body = json.dumps({"keys": host.keys}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host.url = f"http://127.0.0.1:{server.server_address[1]}/jwks-{uuid.uuid4().hex}.json"
    yield host
    server.shutdown()


@dataclass
class Signer:
    """A client's private key and how it signs assertions."""

    client_id: str
    key: RSAKey | ECKey
    alg: str
    kid: str

    def assertion(self, *, aud: str | None = None, lifetime: int = 240, jti: str | None = None,
                  alg: str | None = None, key: Any = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.client_id, "sub": self.client_id, "aud": aud or endpoints.token_url(),
                "exp": now + lifetime, "iat": now, "jti": jti or uuid.uuid4().hex, **claims}
        use_alg = alg or self.alg
        return jwt.encode({"alg": use_alg, "kid": self.kid, "typ": "JWT"}, body, key or self.key,
                          algorithms=[use_alg])

    def form(self, **kwargs: Any) -> dict[str, str]:
        return {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": self.assertion(**kwargs)}


@pytest.fixture
def sandbox_clients(db: None, jwks_host: JwksHost) -> JwksHost:
    """The clients of sandbox_setup, their JWKS pointed at the test's HTTP JWKS host."""
    for spec in client_specs():
        client_ensure(spec)
    ClientProfile.objects.exclude(jwks_uri="").update(jwks_uri=jwks_host.url)
    return jwks_host


def make_signer(host: JwksHost, client_id: str, alg: str = "ES384") -> Signer:
    key = ECKey.generate_key("P-384", private=True) if alg == "ES384" else RSAKey.generate_key(2048, private=True)
    return Signer(client_id=client_id, key=key, alg=alg, kid=host.add(key, alg))


@pytest.fixture
def sidebar_signer(sandbox_clients: JwksHost) -> Signer:
    return make_signer(sandbox_clients, "stratify-sidebar")


@pytest.fixture
def backend_signer(sandbox_clients: JwksHost) -> Signer:
    return make_signer(sandbox_clients, "stratify-backend", alg="RS384")


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str


@pytest.fixture
def pkce() -> Pkce:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return Pkce(verifier, challenge)
