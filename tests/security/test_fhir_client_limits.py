"""FhirClient against a hostile FHIR server (real HTTP on loopback): size caps, page caps, foreign links."""

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest

from fhirapp.client import FhirClient
from fhirapp.errors import FhirDeadlineExceeded, FhirRequestRejected, FhirResponseTooLarge, FhirServerError
from fhirapp.fetch import fill_tokens


class _Hostile(BaseHTTPRequestHandler):
    seen: list[tuple[str, str]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization", "")))
        path = self.path.split("?", 1)[0]
        if path == "/fhir/huge":  # no Content-Length: the cap must hold while streaming
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.end_headers()
            self.wfile.write(b'{"resourceType":"Bundle","pad":"')
            for _ in range(64):
                self.wfile.write(b"x" * 65536)
            self.wfile.write(b'"}')
            return
        if path == "/fhir/slow":  # trickles a body past the caller's deadline
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b" " * 70000)
                self.wfile.flush()
                time.sleep(0.05)
            self.wfile.write(b"{}")
            return
        if path == "/fhir/array":
            self._json([1, 2, 3])
            return
        if path.startswith("/fhir/Observation"):  # endless paging
            page = int(self.path.rsplit("page=", 1)[-1]) if "page=" in self.path else 0
            port = self.server.server_address[1]  # type: ignore[index]
            self._json(
                {
                    "resourceType": "Bundle",
                    "type": "searchset",
                    "entry": [{"resource": {"resourceType": "Observation", "id": f"o{page}"}}],
                    "link": [{"relation": "next", "url": f"http://127.0.0.1:{port}/fhir/Observation?page={page + 1}"}],
                }
            )
            return
        self._json({"resourceType": "Patient", "id": "p1"})

    def _json(self, value: Any) -> None:
        body = orjson.dumps(value)
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def hostile(db: None, outbound_allowed: Any) -> Iterator[str]:
    """The hostile server is a registered EHR (on loopback): the caps, not the address policy, are tested."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    outbound_allowed(f"http://127.0.0.1:{server.server_address[1]}/fhir")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Hostile.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/fhir"
    server.shutdown()
    server.server_close()


def test_body_over_the_cap_is_a_502_not_a_memory_blowup(hostile: str) -> None:
    client = FhirClient(hostile, "tok", max_response_bytes=1024 * 1024)
    with pytest.raises(FhirResponseTooLarge) as caught:
        client.get("huge")
    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_fhir_too_large"


def test_page_cap_raises_instead_of_silently_truncating(hostile: str) -> None:
    client = FhirClient(hostile, "tok", max_pages=3)
    with pytest.raises(FhirResponseTooLarge) as caught:
        client.search("Observation")
    assert caught.value.status_code == 502
    assert len(_Hostile.seen) == 3


def test_search_byte_budget_spans_pages(hostile: str) -> None:
    client = FhirClient(hostile, "tok", max_pages=1000, max_search_bytes=2000)
    with pytest.raises(FhirResponseTooLarge):
        client.search("Observation")
    assert len(_Hostile.seen) < 30


def test_deadline_holds_while_a_body_trickles(hostile: str) -> None:
    started = time.monotonic()
    with pytest.raises(FhirDeadlineExceeded):
        FhirClient(hostile, "tok").get("slow", deadline=started + 0.5)
    assert time.monotonic() - started < 1.5


def test_json_array_answer_is_a_502_not_a_500(hostile: str) -> None:
    with pytest.raises(FhirServerError):
        FhirClient(hostile, "tok").get("array")


@pytest.mark.parametrize(
    "link",
    [
        "HTTP://evil.example/fhir/Observation",
        " http://evil.example/fhir/Observation",
        "https://evil.example/fhir/Observation",
        "Patient/../../admin",
        "http://127.0.0.1:1/fhir/Observation",
        "http://127.0.0.1:{port}/fhirx/Observation",
        "http://127.0.0.1:{port}/other",
    ],
)
def test_links_off_the_server_never_get_the_token(hostile: str, link: str) -> None:
    port = hostile.split(":")[2].split("/")[0]
    client = FhirClient(hostile, "secret-token")
    with pytest.raises(FhirRequestRejected):
        client.get(link.replace("{port}", port))
    assert _Hostile.seen == []


def test_links_on_the_server_still_work(hostile: str) -> None:
    assert FhirClient(hostile, "t").get(hostile + "/Patient/p1")["id"] == "p1"
    assert FhirClient(hostile + "/", "t").read("Patient", "p1")["id"] == "p1"


def test_prefetch_tokens_cannot_inject_query_or_path() -> None:
    assert (
        fill_tokens("Observation?patient={{context.patientId}}", {"patientId": "1&_count=100000"})
        == "Observation?patient=1%26_count%3D100000"
    )
    assert fill_tokens("Patient/{{context.patientId}}", {"patientId": "../../x"}) == "Patient/..%2F..%2Fx"
    assert fill_tokens("Patient/{{context.patientId}}", {"patientId": "a-1.B"}) == "Patient/a-1.B"
