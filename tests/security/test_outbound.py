"""SSRF and exfiltration: a request never makes us fetch from, or write to, a place it names.

Real listeners on loopback count every connection they accept: an unregistered FHIR port and a "Redis"
port must see none, whether named by a CDS hook's fhirServer, a FHIR link, a redirect or a write-back.
"""

import socket
import socketserver
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from config import fetch, outbound
from fhirapp.client import FhirClient
from fhirapp.errors import FhirRequestRejected, FhirServerError
from fhirapp.services.writeback import write_back_enqueue
from smart_launch import client as smart_client
from smart_launch.errors import TokenExchangeFailed
from tests.fhirapp.conftest import sepsis_result
from tests.fhirapp.live import refreshed

pytestmark = [pytest.mark.integration]


class CountingListener:
    """A TCP listener on loopback that counts accepted connections and answers like Redis would."""

    def __init__(self) -> None:
        self.accepted = 0
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer.accepted += 1
                self.request.sendall(b"-ERR unknown command\r\n")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[CountingListener]:
    srv = CountingListener()
    yield srv
    srv.close()


@pytest.fixture
def redis_port() -> Iterator[CountingListener]:
    """Stands in for an internal service (Redis) on another loopback port."""
    srv = CountingListener()
    yield srv
    srv.close()


class Redirecting(BaseHTTPRequestHandler):
    """A registered server whose every answer redirects to `target`."""

    target = ""

    def _redirect(self) -> None:
        self.send_response(307)
        self.send_header("Location", self.target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _redirect

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def redirecting(redis_port: CountingListener, outbound_allowed: Any) -> Iterator[str]:
    handler = type("R", (Redirecting,), {"target": f"{redis_port.url}/"})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    outbound_allowed(base)
    yield base
    httpd.shutdown()
    httpd.server_close()


# --- the address policy itself -------------------------------------------------------------------------


@pytest.mark.django_db
def test_fhir_client_refuses_unregistered_loopback_without_connecting(
    listener: CountingListener, redis_port: CountingListener
) -> None:
    for base in (f"{listener.url}/fhir", redis_port.url, f"http://localhost:{redis_port.url.rsplit(':', 1)[1]}"):
        with pytest.raises(FhirRequestRejected, match="non-public address"):
            FhirClient(base, "token").read("Patient", "p1")
    assert listener.accepted == 0 and redis_port.accepted == 0


@pytest.mark.django_db
def test_metadata_address_is_refused_before_any_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[Any] = []
    real_connect = socket.socket.connect

    def spy(sock: socket.socket, address: Any) -> Any:  # records, then really connects
        attempts.append(address)
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", spy)
    with pytest.raises(FhirRequestRejected) as caught:
        FhirClient("http://169.254.169.254/latest", "token").get("meta-data")
    assert caught.value.extra["address"] == "169.254.169.254"
    with pytest.raises(fetch.FetchFailed, match="address refused"):
        fetch.json_fetch("http://169.254.169.254/latest/meta-data/iam/security-credentials/")
    with pytest.raises(fetch.FetchFailed, match="address refused"):
        fetch.json_fetch("http://[fd00:ec2::254]/latest/meta-data/")
    assert attempts == []


@pytest.mark.django_db
def test_registered_base_is_reached_and_its_neighbours_are_not(
    listener: CountingListener, redis_port: CountingListener, outbound_allowed: Any
) -> None:
    outbound_allowed(f"{listener.url}/fhir")
    with pytest.raises(FhirServerError):  # reached: the listener is no HTTP server, but it was asked
        FhirClient(f"{listener.url}/fhir", "token").read("Patient", "p1")
    assert listener.accepted == 1
    with pytest.raises(fetch.FetchFailed, match="address refused"):  # same host, another path: not registered
        fetch.json_fetch(f"{listener.url}/admin/keys.json")
    with pytest.raises(fetch.FetchFailed, match="address refused"):
        fetch.json_fetch(f"{redis_port.url}/")
    assert listener.accepted == 1 and redis_port.accepted == 0


def test_address_policy_table() -> None:
    refused = [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104
        "::1",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "2002:7f00:1::",
        "224.0.0.1",
        "not an ip",
    ]
    assert not [a for a in refused if outbound.address_allowed(a)]
    assert all(outbound.address_allowed(a) for a in ("8.8.8.8", "2606:4700:4700::1111"))


# --- redirects are never followed to an unregistered place ----------------------------------------------


@pytest.mark.django_db
def test_redirects_from_a_registered_server_are_not_followed(redirecting: str, redis_port: CountingListener) -> None:
    with pytest.raises(FhirRequestRejected, match="redirect"):
        FhirClient(f"{redirecting}/fhir", "token").read("Patient", "p1")
    with pytest.raises(fetch.FetchFailed, match="HTTP 307"):
        fetch.json_fetch(f"{redirecting}/jwks.json")
    config = smart_client.SmartConfiguration(
        iss=f"{redirecting}/fhir", authorization_endpoint=f"{redirecting}/a", token_endpoint=f"{redirecting}/token"
    )
    with pytest.raises(TokenExchangeFailed):
        smart_client.token_exchange(
            config=config,
            client_id="c",
            confidential=False,
            code="x",
            code_verifier="v" * 43,
            redirect_uri="https://stratify.example/smart/callback",
        )
    assert redis_port.accepted == 0


@pytest.mark.django_db
def test_token_endpoint_off_the_registered_origin_is_guarded(
    outbound_allowed: Any, redis_port: CountingListener
) -> None:
    outbound_allowed("https://ehr.example.org/fhir")
    config = smart_client.SmartConfiguration(
        iss="https://ehr.example.org/fhir",
        authorization_endpoint="https://ehr.example.org/a",
        token_endpoint=f"{redis_port.url}/token",
    )
    with pytest.raises(TokenExchangeFailed, match="non-public address"):
        smart_client.token_exchange(
            config=config,
            client_id="c",
            confidential=False,
            code="x",
            code_verifier="v" * 43,
            redirect_uri="https://stratify.example/smart/callback",
        )
    assert redis_port.accepted == 0


# --- write-back goes only to registered EHRs -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_write_back_to_an_unregistered_base_fails_without_contacting_it(
    listener: CountingListener, settings: Any
) -> None:
    settings.WRITEBACK_ENABLED = True
    write_back = write_back_enqueue(
        result=sepsis_result(),
        patient_id=f"p-{uuid.uuid4().hex[:8]}",
        encounter_id=None,
        fhir_base_url=f"{listener.url}/fhir",
        source="cds",
        service_id="stratify-sepsis",
    )
    assert write_back is not None
    write_back = refreshed(write_back)
    assert write_back.status == "failed" and write_back.attempts == 1
    assert write_back.last_error["code"] == "fhir_server_not_registered"
    assert listener.accepted == 0
