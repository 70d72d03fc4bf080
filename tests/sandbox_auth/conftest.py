"""Fixtures for the sandbox authorization server and EHR simulator: JWKS host, clients, PKCE, a live sandbox."""

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
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from cds_hooks.selectors import cds_catalogue_reset
from sandbox_ehr.auth import endpoints
from sandbox_ehr.auth.models import ClientProfile
from sandbox_ehr.auth.setup import client_ensure, client_specs
from sandbox_ehr.fhir.loader import physionet
from sandbox_ehr.fhir.loader.service import LoadReport, physionet_load

PHYSIONET_B = Path("physionet2019") / "physionet2019_training_setB.csv.gz"


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

    def assertion(
        self,
        *,
        aud: str | None = None,
        lifetime: int = 240,
        jti: str | None = None,
        alg: str | None = None,
        key: Any = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        body = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": aud or endpoints.token_url(),
            "exp": now + lifetime,
            "iat": now,
            "jti": jti or uuid.uuid4().hex,
            **claims,
        }
        use_alg = alg or self.alg
        return jwt.encode({"alg": use_alg, "kid": self.kid, "typ": "JWT"}, body, key or self.key, algorithms=[use_alg])

    def form(self, **kwargs: Any) -> dict[str, str]:
        return {
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": self.assertion(**kwargs),
        }


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


@pytest.fixture
def sandbox(live_server, settings):
    """The whole sandbox on a live server: two real PhysioNet stays, clients, keys, CDS trust."""
    settings.PUBLIC_BASE_URL = live_server.url
    settings.WRITEBACK_ENABLED = False  # the chart's CDS calls must not start write-backs (tested in tests/fhirapp)
    call_command("install_models", stdout=open("/dev/null", "w"))  # noqa: SIM115  (demo order: models first)
    cds_catalogue_reset()
    physionet_load(
        Path(django_settings.SHARED_DATA) / PHYSIONET_B,
        2,
        LoadReport(),
        anchor=physionet.default_anchor(),
        progress=False,
    )
    call_command("sandbox_setup", verbosity=0, stdout=open("/dev/null", "w"))  # noqa: SIM115
    return live_server
