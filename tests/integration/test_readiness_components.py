"""/readyz components beyond the eager test configuration: the real Celery broker, reachable or not, and a
deployment without Redis (local-memory cache), which is reported but does not make the server unready."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

pytestmark = [pytest.mark.integration]


@pytest.fixture(autouse=True)
def _models(db: None) -> None:
    """The shipped models (without an active model the server is not ready, whatever else is up)."""
    from io import StringIO

    from django.core.management import call_command

    call_command("install_models", stdout=StringIO())


@pytest.fixture
def real_broker(settings) -> Iterator[Any]:
    """Tasks go through the Redis broker (not eager); the Celery app's write URL is restored afterwards."""
    from config.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    saved = app.conf.broker_write_url
    yield app
    app.conf.broker_write_url = saved


@pytest.mark.django_db
def test_a_reachable_broker_is_ok_and_reports_the_workers_that_answered(client: Client, real_broker: Any) -> None:
    response = client.get("/readyz")
    broker = response.json()["components"]["celery_broker"]
    assert response.status_code == 200 and broker["status"] == "ok" and broker["required"] is True
    assert isinstance(broker["workers"], int)


@pytest.mark.django_db
def test_an_unreachable_broker_makes_the_server_unready(client: Client, real_broker: Any) -> None:
    real_broker.conf.broker_write_url = "redis://127.0.0.1:9/0"  # nothing listens on the discard port
    response = client.get("/readyz")
    broker = response.json()["components"]["celery_broker"]
    assert response.status_code == 503 and response.json()["status"] == "not_ready"
    assert broker["status"] == "down" and broker["required"] is True and broker["detail"]


@pytest.mark.django_db
def test_without_redis_the_cache_is_reported_as_not_configured(client: Client, settings) -> None:
    settings.REDIS_URL = ""
    response = client.get("/readyz")
    redis = response.json()["components"]["redis"]
    assert redis == {
        "status": "not_configured",
        "required": False,
        "detail": "local-memory cache",
        "latency_ms": redis["latency_ms"],
    }
    assert response.status_code == 200
