"""A small EHR on loopback for write-back fault tests: SMART discovery, a token endpoint, FHIR search by identifier
and transaction Bundles with conditional creates, counting every transaction POST it commits.

It can hold its answer to a transaction it has already committed (`hold`, released by `release`), as an EHR
whose answer is lost or slow, or hang before committing anything (`hang`: the connection stays open, nothing is
answered). Run in a thread of the test process (`loopback_ehr()`), or as a process of its own
(`python -m tests.loopback_ehr PORT`, for a benchmark): it keeps its state in memory.
"""

import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

FHIR = "/fhir"


@dataclass
class EhrState:
    """What the EHR holds and has seen."""

    resources: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by resourceType
    transactions: int = 0  # transaction Bundles committed
    searches: int = 0
    hold: threading.Event = field(default_factory=threading.Event)  # set: hold answers of committed transactions
    released: threading.Event = field(default_factory=threading.Event)
    held: threading.Event = field(default_factory=threading.Event)  # a committed transaction is being held
    hang: threading.Event = field(default_factory=threading.Event)  # set: answer nothing at all
    lock: threading.Lock = field(default_factory=threading.Lock)

    def by_identifier(self, resource_type: str, token: str) -> list[dict[str, Any]]:
        system, _, value = token.partition("|")
        with self.lock:
            return [
                r
                for r in self.resources.get(resource_type, [])
                if any(i.get("system") == system and i.get("value") == value for i in r.get("identifier", []))
            ]

    def count(self, resource_type: str) -> int:
        with self.lock:
            return len(self.resources.get(resource_type, []))

    def release(self) -> None:
        """Answer the held transaction(s) and stop holding."""
        self.hold.clear()
        self.released.set()


class _Handler(BaseHTTPRequestHandler):
    state: EhrState
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: object) -> None:
        payload = orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _hung(self) -> bool:
        while self.state.hang.is_set():
            time.sleep(0.05)
            if getattr(self.server, "closing", False):
                return True
        return False

    def do_GET(self) -> None:
        if self._hung():
            return
        url = urlsplit(self.path)
        port = self.server.server_address[1]  # type: ignore[index]  # an (host, port) pair for AF_INET
        if url.path.endswith("/.well-known/smart-configuration"):
            self._send(
                200,
                {
                    "token_endpoint": f"http://127.0.0.1:{port}/token",
                    "authorization_endpoint": f"http://127.0.0.1:{port}/authorize",
                    "capabilities": ["client-confidential-asymmetric"],
                    "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
                },
            )
            return
        resource_type = url.path.removeprefix(FHIR).strip("/")
        identifier = parse_qs(url.query).get("identifier", [""])[0]
        with self.state.lock:
            self.state.searches += 1
        found = self.state.by_identifier(resource_type, identifier)
        self._send(
            200,
            {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": len(found),
                "entry": [{"resource": r} for r in found],
            },
        )

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self._hung():
            return
        if self.path.startswith("/token"):
            self._send(200, {"access_token": uuid.uuid4().hex, "token_type": "bearer", "expires_in": 300})
            return
        answer = self._commit(orjson.loads(body))
        if self.state.hold.is_set():
            self.state.held.set()
            self.state.released.wait(60)
        self._send(200, answer)

    def _commit(self, bundle: dict[str, Any]) -> dict[str, Any]:
        """All entries or none, conditional creates honoured (FHIR R4 transaction, ifNoneExist)."""
        entries = []
        with self.state.lock:
            self.state.transactions += 1
            for entry in bundle.get("entry", []):
                resource = dict(entry["resource"])
                rtype = resource["resourceType"]
                condition = entry.get("request", {}).get("ifNoneExist", "")
                token = parse_qs(condition).get("identifier", [""])[0]
                system, _, value = token.partition("|")
                existing = [
                    r
                    for r in self.state.resources.get(rtype, [])
                    if token
                    and any(i.get("system") == system and i.get("value") == value for i in r.get("identifier", []))
                ]
                if existing:
                    resource, status = existing[0], "200 OK"
                else:
                    resource["id"] = uuid.uuid4().hex[:16]
                    self.state.resources.setdefault(rtype, []).append(resource)
                    status = "201 Created"
                entries.append({"response": {"status": status, "location": f"{rtype}/{resource['id']}/_history/1"}})
        return {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}


@dataclass
class LoopbackEhr:
    """A running loopback EHR: its FHIR base URL and its state."""

    base: str
    state: EhrState
    server: ThreadingHTTPServer


def _serve(port: int = 0) -> LoopbackEhr:
    state = EhrState()
    server = ThreadingHTTPServer(("127.0.0.1", port), type("Ehr", (_Handler,), {"state": state}))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return LoopbackEhr(f"http://127.0.0.1:{server.server_address[1]}{FHIR}", state, server)


@contextmanager
def loopback_ehr() -> Iterator[LoopbackEhr]:
    """A loopback EHR for the duration of the block."""
    ehr = _serve()
    try:
        yield ehr
    finally:
        ehr.server.closing = True  # type: ignore[attr-defined]  # ends hung handlers
        ehr.state.release()
        ehr.server.shutdown()
        ehr.server.server_close()


if __name__ == "__main__":  # a process of its own: prints its counts every few seconds
    running = _serve(int(sys.argv[1]))
    while True:
        time.sleep(5)
        print(f"transactions={running.state.transactions} searches={running.state.searches}", flush=True)
