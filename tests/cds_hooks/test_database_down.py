"""Our own database unreachable: every door answers 503 in the error shape (or its page), never a 500, except the
CDS service, which answers a verified caller 200 with one degraded info card that gives no score.

No score may be served unaudited ("audit every inference"), so none is given. CDS Hooks 2.0 makes 200 the answer
whose cards the user sees and leaves what an EHR does with a 4xx/5xx unspecified (most show nothing, which reads
as no alert); the card says plainly that no risk was assessed. A service set to show no card when not scored
keeps the 503.

Two real outages: the connection's settings pointed at a loopback port where nothing listens (PostgreSQL
"stopped"), and a loopback TCP proxy in front of PostgreSQL that is cut (every open connection reset, no new one
accepted) and then restored, after a first call has warmed the per-process caches, as in a running deployment.
"""

import contextlib
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from django.db import connection
from django.test import Client

from cds_hooks.models import CdsServiceSetting
from cds_hooks.services.calls import DEGRADED
from tests.cds_hooks.conftest import TokenFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
CALL = "/cds-services/stratify-news2"


def _body() -> bytes:
    return orjson.dumps(
        {
            "hook": "patient-view",
            "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/1", "patientId": "p1"},
            "prefetch": {"patient": None, "vitals": None, "labs": None},
        }
    )


@pytest.fixture
def database_stopped() -> Iterator[None]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port))
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(HOST=saved["HOST"], PORT=saved["PORT"])


def test_database_down_is_a_503_everywhere(
    trusted_client: Any, models_installed: None, make_token: TokenFactory, request: pytest.FixtureRequest
) -> None:
    client = Client()
    warm = client.post(CALL, _body(), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {make_token(CALL)}")
    assert warm.status_code == 200, warm.content
    request.getfixturevalue("database_stopped")
    answers = {
        "cds": client.post(
            CALL, _body(), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {make_token(CALL)}"
        ),
        "models": client.get("/models/", HTTP_ACCEPT="application/json"),
        "callback": client.get("/smart/callback", {"code": "c", "state": "s"}, HTTP_ACCEPT="application/json"),
        "sidebar": client.get("/smart/app", HTTP_ACCEPT="application/json"),
    }
    cds = answers.pop("cds")
    assert cds.status_code == 200, cds.content[:300]
    _assert_degraded(orjson.loads(cds.content))
    for door, response in answers.items():
        assert response.status_code == 503, (door, response.status_code, response.content[:300])
        assert orjson.loads(response.content)["code"] == "database_unavailable", door
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["components"]["database"]["status"] == "down"
    page = client.get("/models/", HTTP_ACCEPT="text/html")
    assert page.status_code == 503 and b"database_unavailable" in page.content


def _assert_degraded(body: dict[str, Any]) -> None:
    [card] = body["cards"]
    assert card["indicator"] == "info" and "uuid" not in card and "links" not in card
    assert card["summary"].startswith("NEWS2") and "no score is given" in card["summary"], card["summary"]
    assert "**not** a low-risk result" in card["detail"]


class PostgresProxy:
    """A loopback TCP proxy in front of PostgreSQL that can be cut (open connections reset, none accepted) and
    restored on the same port."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener = self._listen(0)
        self.port = self.listener.getsockname()[1]

    def _listen(self, port: int) -> socket.socket:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(16)
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return listener

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # cut
                return
            server = socket.create_connection(self.upstream)
            with self.lock:
                self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with contextlib.suppress(OSError):  # already cut
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread: no new connection from now on
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                sock.close()  # reset, as a dead network path or a crashed server
            self.sockets.clear()

    def restore(self) -> None:
        self.listener = self._listen(self.port)


@pytest.fixture
def proxied_database() -> Iterator[PostgresProxy]:
    """This test's connection goes through the proxy."""
    saved = dict(connection.settings_dict)
    proxy = PostgresProxy((saved["HOST"] or "127.0.0.1", int(saved["PORT"] or 5432)))
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(proxy.port))
    try:
        yield proxy
    finally:
        connection.close()
        connection.settings_dict.update(HOST=saved["HOST"], PORT=saved["PORT"])
        proxy.cut()


def _cds(client: Client, make_token: TokenFactory) -> Any:
    return client.post(CALL, _body(), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {make_token(CALL)}")


def test_a_cut_database_gives_the_degraded_card_then_scores_again_once_it_is_back(
    trusted_client: Any, models_installed: None, make_token: TokenFactory, proxied_database: PostgresProxy
) -> None:
    client = Client()
    before = _cds(client, make_token)
    assert before.status_code == 200 and "uuid" in before.json()["cards"][0]  # recorded, hence a uuid
    degraded = DEGRADED._value.get()
    proxied_database.cut()  # in the middle of the connection Django keeps open
    during = [_cds(client, make_token) for _ in range(3)]
    assert [r.status_code for r in during] == [200, 200, 200], during[0].content[:300]
    for response in during:
        _assert_degraded(response.json())
    assert DEGRADED._value.get() == degraded + 3
    assert client.get("/readyz").status_code == 503
    proxied_database.restore()
    connection.close()  # as Django does at the end of each request with a broken connection
    after = _cds(client, make_token)
    assert after.status_code == 200 and "uuid" in after.json()["cards"][0]


def test_a_service_that_shows_no_not_scored_card_keeps_the_503(
    trusted_client: Any, models_installed: None, make_token: TokenFactory, proxied_database: PostgresProxy
) -> None:
    CdsServiceSetting.objects.create(service_id="stratify-news2", not_scored=CdsServiceSetting.NotScored.NONE)
    from cds_hooks.selectors import cds_catalogue_reset

    cds_catalogue_reset()
    client = Client()
    assert _cds(client, make_token).status_code == 200
    proxied_database.cut()
    response = _cds(client, make_token)
    assert response.status_code == 503 and response.json()["code"] == "database_unavailable"
    proxied_database.restore()
