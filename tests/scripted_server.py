"""A real HTTP server on loopback whose answers a test scripts: a third party (CDS service, FHIR server) that
fails in a chosen way (an error status, a body that is not JSON, a dropped connection), which the product's
own servers never do on purpose. Every request is recorded."""

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

DROP = "drop"  # close the connection without an answer


@dataclass
class Answer:
    """One scripted answer: a status and a body (JSON when not bytes), or DROP."""

    status: int = 200
    body: Any = None
    content_type: str = "application/json"

    def payload(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


@dataclass
class Request:
    """What the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ScriptedServer:
    """Routes are "METHOD /path" (query string ignored) -> Answer or DROP; unknown routes answer 404."""

    url: str = ""
    routes: dict[str, Answer | str] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def answer(self, method: str, path: str) -> Answer | str:
        return self.routes.get(f"{method} {path.split('?')[0]}", Answer(404, {"message": "no route"}))


def _handler(server: ScriptedServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            server.requests.append(Request(self.command, self.path, dict(self.headers), body))
            answer = server.answer(self.command, self.path)
            if answer == DROP or not isinstance(answer, Answer):
                self.close_connection = True
                return
            payload = answer.payload()
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _serve

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def scripted_server() -> Iterator[ScriptedServer]:
    """Serve a ScriptedServer from a thread on a free loopback port for the duration of the block."""
    script = ScriptedServer()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    script.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield script
    finally:
        httpd.shutdown()
        httpd.server_close()
