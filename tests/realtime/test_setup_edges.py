"""Edges of the real-time door's setup: the listener check, the device source admin and model rules, a JWKS URL,
Redis down after the commit (stored, streamed later), `realtime_consume --once`."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from typing import Any

import orjson
import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from joserfc.jwk import ECKey

from realtime.auth import device_sources_forget
from realtime.checks import score_listeners_check
from realtime.models import DeviceSource, DeviceVital
from realtime.stream import STREAM, stream_client
from tests.realtime.conftest import vital

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_a_listener_that_cannot_be_imported_is_reported(settings: Any) -> None:
    settings.REALTIME_SCORE_LISTENERS = ["tests.realtime.listeners.capture", "", "no_such_app.services.listen"]
    [warning] = score_listeners_check()
    assert warning.id == "realtime.W001" and "no_such_app" in warning.msg


def test_a_listener_of_the_keyword_argument_kind_is_an_error(settings: Any) -> None:
    """Earlier releases called listeners per patient with keyword arguments: such a listener, still configured,
    would fail every store. The product's own listener and the tests' pass."""
    settings.REALTIME_SCORE_LISTENERS = [
        "alerts.services.alerts_on_score",
        "alerts.services.alerts_on_scores",
        "tests.realtime.listeners.capture",
    ]
    [error] = score_listeners_check()
    assert error.id == "realtime.E001" and "alerts_on_score'" in error.msg and "alerts_on_scores" in str(error.hint)


def test_a_source_needs_exactly_one_key_source(registration: Any) -> None:
    for jwks, url in (({"keys": []}, ""), (None, ""), ({"keys": [{"kty": "EC"}]}, "https://keys.example.org")):
        with pytest.raises(ValidationError):
            DeviceSource(name="x", registration=registration, jwks=jwks, jwks_url=url).clean()
    source = DeviceSource(name="x", registration=registration, jwks_url="https://keys.example.org/jwks")
    source.clean()
    assert str(source) == "x"


def test_the_admin_keeps_only_public_key_members(admin_client: Any, registration: Any, device_key: ECKey) -> None:
    private = ECKey.generate_key("P-256", parameters={"kid": "k2"}).as_dict(private=True)
    response = admin_client.post(
        "/admin/realtime/devicesource/add/",
        {
            "name": "ward-7",
            "registration": registration.pk,
            "jwks": orjson.dumps({"keys": [private]}).decode(),
            "jwks_url": "",
            "enabled": "on",
            "audit_reason": "new monitors on ward 7",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    jwks: Any = DeviceSource.objects.get(name="ward-7").jwks
    assert "d" not in jwks["keys"][0]
    assert admin_client.get("/admin/realtime/devicevital/").status_code == 200
    assert admin_client.get("/admin/realtime/rescore/").status_code == 200


@pytest.fixture
def jwks_server(device_key: ECKey, outbound_allowed: Any) -> Iterator[str]:
    body = orjson.dumps({"keys": [device_key.as_dict(private=False)]})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    outbound_allowed(base)
    yield f"{base}/jwks.json"
    server.shutdown()


def test_a_source_with_a_jwks_url_is_verified_with_the_keys_published_there(
    source: DeviceSource, post: Any, jwks_server: str
) -> None:
    DeviceSource.objects.filter(pk=source.pk).update(jwks=None, jwks_url=jwks_server)
    device_sources_forget()
    assert post({"events": [vital(source.registration_id, 1)]}).status_code == 200


def test_events_stored_while_redis_is_down_are_not_lost(source: DeviceSource, post: Any, settings: Any) -> None:
    settings.REALTIME_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    assert post({"events": [vital(source.registration_id, 1)]}).json()["stored"] == 1
    assert DeviceVital.objects.get().streamed is False  # the relay streams it later


@pytest.mark.django_db(transaction=True)  # a consumer step closes obsolete connections: no test transaction around it
def test_realtime_consume_once(source: DeviceSource, post: Any, settings: Any) -> None:
    settings.REALTIME_SCORE_LISTENERS = []
    out = StringIO()
    call_command("realtime_consume", "--once", "--name", "once", stdout=out)
    assert "realtime consumer once" in out.getvalue()
    assert stream_client().exists(STREAM)
