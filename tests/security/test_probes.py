"""/metrics and /readyz's detail are for the monitoring system only (token or allowed network); /healthz is open."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from config.probes import _networks

pytestmark = pytest.mark.django_db
OUTSIDE = "203.0.113.5"  # TEST-NET-3, not in the default allowlist (loopback)


@pytest.fixture(autouse=True)
def _token(settings: Any) -> Iterator[None]:
    settings.METRICS_TOKEN = "probe-token"
    _networks.cache_clear()
    yield
    _networks.cache_clear()


def test_from_outside_metrics_are_refused_and_readiness_has_no_detail(client: Client) -> None:
    assert client.get("/healthz", REMOTE_ADDR=OUTSIDE).status_code == 200
    denied = client.get("/metrics", REMOTE_ADDR=OUTSIDE)
    assert denied.status_code == 403 and denied.json()["code"] == "permission_denied"
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert set(client.get("/readyz", REMOTE_ADDR=OUTSIDE).json()) == {"status"}


def test_the_token_or_an_allowed_network_opens_them(client: Client, settings: Any) -> None:
    metrics = client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="Bearer probe-token")
    assert metrics.status_code == 200 and b"stratify_writeback_queue_length" in metrics.content
    assert "components" in client.get("/readyz", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="Bearer probe-token").json()
    settings.METRICS_ALLOWED_NETWORKS = ["203.0.113.0/24"]
    _networks.cache_clear()
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE).status_code == 200
