"""Our own database unreachable: every door answers 503 in the error shape (or its page), never a 500.

The connection's settings are pointed at a loopback port where nothing listens (PostgreSQL "stopped"), after a
first call has warmed the per-process caches, as in a running deployment whose database goes away.
"""

import socket
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from django.db import connection
from django.test import Client

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
    for door, response in answers.items():
        assert response.status_code == 503, (door, response.status_code, response.content[:300])
        assert orjson.loads(response.content)["code"] == "database_unavailable", door
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["components"]["database"]["status"] == "down"
    page = client.get("/models/", HTTP_ACCEPT="text/html")
    assert page.status_code == 503 and b"database_unavailable" in page.content
