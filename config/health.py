"""Liveness and readiness: /healthz answers while the process runs; /readyz checks every component."""

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from config.probes import probe_reader

Component = dict[str, Any]


def _timed(check: Callable[[], Component]) -> Component:
    started = time.perf_counter()
    try:
        result = check()
    except Exception as exc:  # a component check must report, never raise
        result = {"status": "down", "required": True, "detail": type(exc).__name__ + ": " + str(exc)[:200]}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def database_status() -> Component:
    """SELECT 1 on the default database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"status": "ok", "required": True, "engine": connection.vendor}


def redis_status() -> Component:
    """PING the Redis server behind the cache, when REDIS_URL is configured."""
    if not settings.REDIS_URL:
        return {"status": "not_configured", "required": False, "detail": "local-memory cache"}
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    client.ping()
    return {"status": "ok", "required": True}


def celery_broker_status() -> Component:
    """Connect to the Celery broker (or report eager mode) and count the live workers: those whose heartbeat
    in Redis is recent (config.worker_heartbeat), busy or not; a ping would miss a busy one."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"status": "eager", "required": False, "detail": "tasks run in the web process"}
    from config.celery import app
    from config.worker_heartbeat import broker_redis_url, workers_alive

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=1)
    url = broker_redis_url(app)
    workers = workers_alive(url) if url else len(app.control.ping(timeout=1.0) or [])  # another broker: ping
    return {"status": "ok", "required": True, "workers": workers}


def model_registry_status() -> Component:
    """Delegate to the scoring registry: every active model must load and match the feature spec."""
    from scoring.readiness import registry_status

    return registry_status()


COMPONENTS: dict[str, Callable[[], Component]] = {
    "database": database_status,
    "redis": redis_status,
    "celery_broker": celery_broker_status,
    "model_registry": model_registry_status,
}


def readiness_report() -> tuple[bool, dict[str, Component]]:
    """Check every component; ready only when no required component is down."""
    report = {name: _timed(check) for name, check in COMPONENTS.items()}
    ready = not any(c["required"] and c["status"] not in ("ok", "eager") for c in report.values())
    return ready, report


@csrf_exempt  # GET only: a POST gets the 405 in the error shape, not a CSRF refusal
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process is up and serving."""
    return JsonResponse({"status": "ok"})


@csrf_exempt
@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness, 503 when a required component is down; per-component detail only for allowed callers
    (METRICS_TOKEN or METRICS_ALLOWED_NETWORKS, config.probes)."""
    ready, components = readiness_report()
    body: dict[str, Any] = {"status": "ready" if ready else "not_ready"}
    if probe_reader(request):
        body["components"] = components
    return JsonResponse(body, status=200 if ready else 503)
