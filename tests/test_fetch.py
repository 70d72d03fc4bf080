"""config.fetch (and its users) against a real loopback HTTP server: oversized, slow, failing and odd bodies."""

import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import OperationalError

from config import fetch, jwks
from config.ttl_cache import TtlCache
from smart_launch import client as smart_client

BIG = 2 * 1024 * 1024


class _Peer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/huge":  # no Content-Length: the cap must hold while streaming
            self._head(200)
            for _ in range(BIG // 65536):
                self.wfile.write(b" " * 65536)
            return
        if path == "/declared":  # refused on the header alone
            self._head(200, length=BIG)
            return
        if path == "/slow":  # each read is quick, the whole body is not
            self._head(200)
            for _ in range(30):
                self.wfile.write(b" " * 1024)
                self.wfile.flush()
                time.sleep(0.1)
            self.wfile.write(b"{}")
            return
        bodies = {
            "/ok": (200, b'{"keys": []}'),
            "/array": (200, b"[1]"),
            "/text": (200, b"<html>"),
            "/unavailable": (503, b""),
            "/busy": (429, b""),
            "/missing": (404, b""),
            "/moved": (302, b""),
        }
        status, body = bodies[path]
        self._head(status, length=len(body), location="/ok" if status == 302 else None)
        self.wfile.write(body)

    def _head(self, status: int, *, length: int | None = None, location: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if length is not None:
            self.send_header("Content-Length", str(length))
        if location:
            self.send_header("Location", location)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that stops reading an oversized body breaks the pipe: expected here."""


@pytest.fixture(scope="module")
def peer() -> Iterator[str]:
    server = _QuietServer(("127.0.0.1", 0), _Peer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _peer_registered(db: None, peer: str, outbound_allowed: Any) -> None:
    """The test peer is on loopback: registered, as an operator registers an EHR on a private address."""
    outbound_allowed(peer)


def test_small_json_object(peer: str) -> None:
    assert fetch.json_fetch(f"{peer}/ok") == {"keys": []}


@pytest.mark.parametrize("path", ["/huge", "/declared"])
def test_oversized_body_is_refused(peer: str, path: str) -> None:
    with pytest.raises(fetch.FetchTooLarge):
        fetch.bytes_fetch(f"{peer}{path}", max_bytes=BIG // 2)
    assert len(fetch.bytes_fetch(f"{peer}/huge", max_bytes=BIG)) == BIG  # the cap, not the server, decides


def test_slow_body_is_abandoned_at_the_deadline(peer: str) -> None:
    # Every chunk arrives well within 1 s, so a per-read timeout alone would wait the whole 3 s and succeed.
    with pytest.raises(fetch.FetchTimedOut) as caught:
        fetch.bytes_fetch(f"{peer}/slow", timeout=1.0)
    assert caught.value.transient


@pytest.mark.parametrize(
    ("path", "status", "transient"),
    [("/unavailable", 503, True), ("/busy", 429, True), ("/missing", 404, False), ("/moved", 302, False)],
)
def test_error_statuses(peer: str, path: str, status: int, transient: bool) -> None:
    with pytest.raises(fetch.FetchFailed) as caught:
        fetch.json_fetch(f"{peer}{path}")
    assert (caught.value.status, caught.value.transient) == (status, transient)


@pytest.mark.parametrize(("path", "reason"), [("/array", "not a JSON object"), ("/text", "not JSON")])
def test_not_a_json_object(peer: str, path: str, reason: str) -> None:
    with pytest.raises(fetch.FetchFailed, match=reason):
        fetch.json_fetch(f"{peer}{path}")


def test_unreachable_is_transient(outbound_allowed: Any) -> None:
    outbound_allowed("http://127.0.0.1:9")
    with pytest.raises(fetch.FetchFailed) as caught:
        fetch.json_fetch("http://127.0.0.1:9/nothing", timeout=1)
    assert caught.value.transient and caught.value.status is None


def test_oversized_jwks_is_unavailable(peer: str) -> None:
    with pytest.raises(jwks.JwksUnavailable, match="larger than"):
        jwks.keyset_fetch(f"{peer}/huge", cache_key=f"test:jwks:{uuid.uuid4().hex}", cache_seconds=60, timeout=3)


def test_oversized_or_slow_style_is_ignored(peer: str, settings: Any) -> None:
    settings.SMART_HTTP_TIMEOUT = 1.0
    assert smart_client.style_fetch(f"{peer}/huge", iss=peer) == {}
    assert smart_client.style_fetch(f"{peer}/slow", iss=peer) == {}


class TtlCacheTests:
    def test_computes_once_within_the_ttl(self) -> None:
        calls: list[str] = []

        def compute(key: str, value: int) -> int:
            calls.append(key)
            return value

        cache: TtlCache[str, int] = TtlCache(60)
        assert cache.get("a", lambda: compute("a", 1)) == 1
        assert cache.get("a", lambda: compute("a", 2)) == 1
        assert cache.get("b", lambda: compute("b", 3)) == 3
        assert calls == ["a", "b"]

    def test_expired_entry_is_recomputed(self) -> None:
        cache: TtlCache[str, int] = TtlCache(0.05)
        cache.get("a", lambda: 1)
        time.sleep(0.1)
        assert cache.get("a", lambda: 2) == 2

    def test_clear_and_bound(self) -> None:
        cache: TtlCache[int, int] = TtlCache(60, max_entries=2)
        for key in range(3):
            cache.get(key, lambda: 0)
        assert cache.get(0, lambda: 9) == 9  # the third key emptied the full cache
        cache.clear()
        assert cache.get(0, lambda: 7) == 7

    def test_a_stale_value_answers_while_the_compute_fails_with_a_listed_error(self) -> None:
        cache: TtlCache[str, int] = TtlCache(0.01)
        cache.get("a", lambda: 1)
        time.sleep(0.02)

        def down() -> int:
            raise OperationalError("the database is down")

        assert cache.get("a", down, stale_on=(OperationalError,)) == 1  # the last value read
        with pytest.raises(OperationalError):
            cache.get("b", down, stale_on=(OperationalError,))  # nothing held: the error stands
        with pytest.raises(OperationalError):
            cache.get("a", down)  # not listed: the error stands
        assert cache.get("a", lambda: 2, stale_on=(OperationalError,)) == 2  # back: computed anew
