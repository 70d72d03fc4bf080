"""alerts fixtures: synthetic served results, clean per-process caches, and loopback servers (HTTP, SMTP)."""

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from scoring.types import Driver, ScoreResult
from tests.fhirapp.conftest import fhir_schema_validate  # noqa: F401  # the R4 JSON schema fixture

AS_OF = datetime(2026, 3, 5, 14, 30, tzinfo=UTC)
REGISTRATION = 7
PATIENT = "Patient/pat-1"


def result(band: str | None = "high", *, minutes: int = 0, **overrides: Any) -> ScoreResult:
    """A served NEWS2-style result (synthetic) `minutes` after AS_OF; its band is the result's own."""
    as_of = AS_OF + timedelta(minutes=minutes)
    drivers = (
        Driver(
            "charted_last_6h",
            "Charting",
            3.0,
            "",
            0.0,
            0.9,
            "raises",
            "Observed 3 times in 6 h, raises risk",
            context=True,
        ),
        Driver("resp_last", "Respiratory rate", 25.0, "/min", 0.5, 3.0, "raises", "Respiratory rate 25 /min: 3 points"),
        Driver("spo2_last", "SpO2", 91.0, "%", 0.5, 2.0, "raises", "SpO2 91 %: 2 points"),
    )
    values: dict[str, Any] = dict(
        model_name="news2",
        model_version="rcp-2017",
        model_sha256="",
        spec_version="1",
        model_status="active",
        kind="rule",
        title="NEWS2",
        as_of=as_of,
        scored=band is not None,
        probability=None,
        points={"high": 7.0, "moderate": 5.0, "low": 1.0}.get(band or ""),
        band=band,
        indicator={"high": "critical", "moderate": "warning"}.get(band or "", "info"),
        summary=f"NEWS2 {band or 'not scored'}",
        horizon_hours=None,
        provider="rule",
        drivers=drivers if band else (),
        data_times={"resp_last": as_of - timedelta(minutes=30), "spo2_last": as_of - timedelta(minutes=90)},
        input_digest=f"{minutes:064d}",
    )
    values.update(overrides)
    return ScoreResult(**values)


@pytest.fixture(autouse=True)
def _fresh_policies() -> Iterator[None]:
    from alerts.services.lifecycle import patient_days_forget
    from alerts.services.policy import alert_policies_forget

    alert_policies_forget()
    patient_days_forget()
    yield
    alert_policies_forget()


@dataclass
class Listener:
    """A loopback HTTP server that answers POSTs with the next status of `statuses` (then 200), recording them."""

    url: str
    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def webhook_listener() -> Iterator[Listener]:
    listener = Listener(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            listener.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            status = listener.statuses.pop(0) if listener.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    listener.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield listener
    server.shutdown()
    server.server_close()


@dataclass
class Mailbox:
    """Messages a loopback SMTP server (aiosmtpd) received."""

    port: int
    messages: list[Any] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)  # addresses the server answers 550 to


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[Mailbox]:
    """A real SMTP server on loopback (aiosmtpd), with Django's SMTP backend pointed at it."""
    from email import message_from_bytes

    from aiosmtpd.controller import Controller

    box = Mailbox(port=0)

    class Handler:
        async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
            if address in box.refused:
                return "550 5.1.1 No such user"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            box.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
            return "250 Message accepted for delivery"

    with socket.socket() as probe:  # a free port (the controller checks it is up by connecting to it)
        probe.bind(("127.0.0.1", 0))
        box.port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=box.port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", box.port
    yield box
    controller.stop()
