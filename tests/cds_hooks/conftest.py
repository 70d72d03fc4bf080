"""Fixtures for the CDS Hooks tests: a CDS client's keys, its JWKS served over real HTTP, signed JWTs."""

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.conf import settings
from joserfc import jwt
from joserfc.jwk import ECKey

from cds_hooks.models import TrustedCdsClient
from cds_hooks.services.clients import trusted_client_upsert
from fhirapp.client import FhirClient
from sandbox_ehr.fhir.loader.physionet import Stay, default_anchor, stay_resources, stays_select

CLIENT_ISS = "https://ehr.test.example/cds-client"
CLIENT_FHIR_SERVER = "https://ehr.example.org/fhir"  # the FHIR base registered for the trusted client


@pytest.fixture(autouse=True)
def _fresh_memos() -> Iterator[None]:
    """Per-process memos (trusted clients, service catalogue) never leak between tests' databases."""
    from cds_hooks.selectors import cds_catalogue_reset
    from cds_hooks.trust import trusted_clients_forget

    trusted_clients_forget()
    cds_catalogue_reset()
    yield
    trusted_clients_forget()
    cds_catalogue_reset()


class JwksServer:
    """A loopback HTTP server publishing a mutable JWKS and counting how often it is fetched."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                body = orjson.dumps({"keys": outer.keys})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def publish(self, *keys: Any) -> None:
        """Replace the published keys (public members only)."""
        self.keys = [k.as_dict(private=False) for k in keys]


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    """A JWKS endpoint over real HTTP on loopback."""
    server = JwksServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


@pytest.fixture
def slow_fhir_server() -> Iterator[str]:
    """A FHIR server that takes 3 s to answer anything (longer than any budget under test)."""

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(3)
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/fhir"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def client_key() -> ECKey:
    """The CDS client's ES384 signing key."""
    return ECKey.generate_key("P-384", parameters={"kid": f"k-{uuid.uuid4().hex[:8]}", "alg": "ES384"})


@pytest.fixture
def trusted_client(db: None, jwks_server: JwksServer, client_key: ECKey) -> TrustedCdsClient:
    """A trusted client whose JWKS (holding `client_key`) is served by `jwks_server`."""
    jwks_server.publish(client_key)
    client, _ = trusted_client_upsert(iss=CLIENT_ISS, jwks_url=jwks_server.url, fhir_servers=[CLIENT_FHIR_SERVER])
    return client


def fhir_server_trust(url: str) -> None:
    """Register one more FHIR base for the trusted client (as an admin adds its EHR's base)."""
    from cds_hooks.trust import trusted_clients_forget

    client = TrustedCdsClient.objects.get(iss=CLIENT_ISS)
    client.fhir_servers = "\n".join([*client.fhir_server_list, url])
    client.save()
    trusted_clients_forget()


TokenFactory = Callable[..., str]


def sign(key: Any, claims: dict[str, Any], alg: str = "ES384", kid: str | None = None) -> str:
    """A compact JWS of `claims`."""
    header = {"alg": alg, "typ": "JWT", **({"kid": kid} if kid else {})}
    return jwt.encode(header, claims, key, algorithms=[alg])


def claims_for(path: str, **overrides: Any) -> dict[str, Any]:
    """Valid CDS client claims for a call to `path` (spec "Trusting CDS Clients")."""
    now = int(time.time())
    claims = {
        "iss": CLIENT_ISS,
        "sub": "ehr-client",
        "aud": settings.PUBLIC_BASE_URL + path,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.fixture
def make_token(client_key: ECKey) -> TokenFactory:
    """Sign valid claims for a path with the trusted client's key; keyword overrides change claims."""

    def factory(path: str, **overrides: Any) -> str:
        return sign(client_key, claims_for(path, **overrides), kid=client_key.kid)

    return factory


# --- sandbox EHR data (real PhysioNet rows converted by the sandbox loader's own code) -----------------

PHYSIONET_SET_A = Path(settings.SHARED_DATA) / "physionet2019" / "physionet2019_training_setA.csv.gz"


@dataclass(frozen=True)
class SandboxPatient:
    """A patient loaded into the sandbox FHIR server under live_server, with a token to read it."""

    fhir_base: str
    patient_id: str
    encounter_id: str
    token: str
    resources: list[dict[str, Any]]


def physionet_stay_resources(*, septic: bool = True, last_rows: int | None = None) -> list[dict[str, Any]]:
    """FHIR JSON of the first septic (or non-septic) PhysioNet set-A stay, ending at the current hour."""
    stay = next(s for s in stays_select(PHYSIONET_SET_A, 2) if s.septic == septic)
    if last_rows:
        stay = Stay(stay.patient, stay.septic, stay.rows[-last_rows:])
    return stay_resources(stay, default_anchor())


@pytest.fixture
def sandbox_patient(live_server: Any) -> SandboxPatient:
    """One real PhysioNet stay (last 12 h) written through the sandbox FHIR API over HTTP."""
    from sandbox_ehr.auth.services import access_token_issue

    base = f"{live_server.url}/sandbox/fhir"
    writer = FhirClient(base, access_token_issue(client_id="cds-test-loader", scope="system/*.cruds"))
    resources = physionet_stay_resources(last_rows=12)
    writer.transaction(
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                for r in resources
            ],
        }
    )
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    encounter_id = next(r["id"] for r in resources if r["resourceType"] == "Encounter")
    reader = access_token_issue(client_id="stratify-cds", scope="patient/*.rs", patient_id=patient_id)
    return SandboxPatient(base, patient_id, encounter_id, reader, resources)


@pytest.fixture
def models_installed(db: None) -> None:
    """The shipped scoring models (scoring's `install_models`: sepsis artifact + NEWS2/qSOFA rules)."""
    from django.core.management import call_command

    from cds_hooks.selectors import cds_catalogue_reset

    call_command("install_models", stdout=StringIO())
    cds_catalogue_reset()
