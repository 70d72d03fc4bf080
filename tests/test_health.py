"""Liveness and readiness endpoints."""

import pytest
from django.test import Client


@pytest.mark.django_db
class HealthTests:
    def test_healthz_is_ok(self, client: Client) -> None:
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        assert response["X-Request-ID"]

    def test_readyz_lists_every_component(self, client: Client) -> None:
        response = client.get("/readyz")
        body = response.json()
        assert set(body["components"]) == {"database", "redis", "celery_broker", "model_registry"}
        assert body["components"]["database"]["status"] == "ok"
        assert body["components"]["database"]["engine"] == "postgresql"
        assert body["components"]["redis"]["status"] == "ok"

    def test_readyz_is_503_when_a_required_component_is_down(self, client: Client, settings) -> None:
        settings.REDIS_URL = "redis://127.0.0.1:1/0"
        response = client.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "not_ready"
        assert body["components"]["redis"]["status"] == "down"

    def test_metrics_are_prometheus_text(self, client: Client) -> None:
        client.get("/healthz")
        response = client.get("/metrics")
        assert response.status_code == 200
        assert b"django_http_requests_total_by_method_total" in response.content

    def test_landing_page(self, client: Client) -> None:
        response = client.get("/")
        assert response.status_code == 200
        assert b"Stratify" in response.content
        assert all(f'href="{url}"'.encode() in response.content for url in ("/models/", "/admin/", "/readyz"))


@pytest.mark.django_db
def test_readyz_is_not_ready_while_no_model_is_active(client: Client) -> None:
    from io import StringIO

    from django.core.management import call_command

    body = client.get("/readyz").json()
    assert body["status"] == "not_ready"
    assert body["components"]["model_registry"]["status"] == "down"
    assert "production_setup" in body["components"]["model_registry"]["detail"]
    call_command("install_models", stdout=StringIO())
    assert client.get("/readyz").json()["components"]["model_registry"]["status"] == "ok"
