"""A real HTTP server on loopback over a mirror folder: byte ranges, a request log, and cut-off transfers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote


@dataclass
class MirrorState:
    """What the server serves and what it saw: (method, path, Range header) per request."""

    root: Path
    honour_ranges: bool = True
    cut_after: dict[str, int] = field(default_factory=dict)  # path -> bytes sent before dropping, once
    requests: list[tuple[str, str, str]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    state: MirrorState

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        self.state.requests.append((self.command, self.path, self.headers.get("Range", "")))
        path = self.state.root / unquote(self.path.lstrip("/"))
        if not path.is_file():
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        data = path.read_bytes()
        start = self._range_start(len(data))
        self.send_response(HTTPStatus.PARTIAL_CONTENT if start else HTTPStatus.OK)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        if body:
            self._send(data[start:])

    def _range_start(self, size: int) -> int:
        header = self.headers.get("Range", "")
        if not (self.state.honour_ranges and header.startswith("bytes=")):
            return 0
        return min(int(header[6:].split("-")[0]), size)

    def _send(self, payload: bytes) -> None:
        cut = self.state.cut_after.pop(self.path, None)
        if cut is None:
            self.wfile.write(payload)
            return
        self.wfile.write(payload[:cut])
        self.wfile.flush()
        self.close_connection = True


@contextmanager
def serve(state: MirrorState) -> Iterator[str]:
    """Serve the mirror on a free loopback port; yields its base URL."""
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
