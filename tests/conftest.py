"""Shared fixtures: service checks, a real Celery worker over Redis, settings that restore themselves."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.hookimpl(trylast=True)  # after pytest-django's own ordering (transactional tests after the others)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Integration tests need PostgreSQL and Redis; under the README command they may never skip. Tests that end
    every other session on the test database (`ends_db_sessions`: the database-blip tests) run last, so that no
    session this process keeps for a later test is among those they end."""
    items.sort(key=lambda item: item.get_closest_marker("ends_db_sessions") is not None)  # stable: order kept
    missing = [name for name, port in (("PostgreSQL", 5432), ("Redis", 6379)) if not _reachable("127.0.0.1", port)]
    if not missing:
        return
    message = f"{' and '.join(missing)} not reachable on 127.0.0.1"
    if os.environ.get("STRATIFY_REQUIRE_SERVICES"):
        pytest.exit(f"{message}: run `make test`, which starts them.", returncode=3)
    skip = pytest.mark.skip(reason=message)
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def child_process_env(django_db_setup: None) -> dict[str, str]:
    """This process's environment for a child process (worker, server) that must use the test database."""
    from django.db import connection

    settings_dict = connection.settings_dict
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{settings_dict['USER'] or 'postgres'}@{settings_dict['HOST']}:"
        f"{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}",
    }


WorkerStart = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def celery_workers(child_process_env: dict[str, str]) -> Iterator[WorkerStart]:
    """Start real `celery worker` processes on the test database, all consuming one Redis queue of this test:
    `start(**env)` starts one more (with extra environment) once it answers. Those still running at the end
    are stopped with SIGTERM (a warm shutdown that runs atexit handlers, so the coverage gate also measures
    the workers)."""
    from config.celery import app

    env = {**child_process_env, "CELERY_TASK_ALWAYS_EAGER": "false"}
    app.conf.task_always_eager = False
    queue = f"test-{os.getpid()}-{time.monotonic_ns()}"
    env["CELERY_TASK_DEFAULT_QUEUE"] = queue  # what the worker's own tasks send goes to its queue as well
    app.conf.task_default_queue = queue
    procs: list[subprocess.Popen[bytes]] = []

    def start(**extra: str) -> subprocess.Popen[bytes]:
        name = f"{queue}-{len(procs)}"
        procs.append(celery_worker_start({**env, **extra}, queue, name=name))
        _wait_for_worker(app, procs[-1], worker_node(name))
        return procs[-1]

    try:
        yield start
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        app.conf.task_always_eager = True
        app.conf.task_default_queue = "celery"


@pytest.fixture
def celery_worker_process(celery_workers: WorkerStart) -> subprocess.Popen[bytes]:
    """A real `celery worker` process on the test database, consuming from Redis (see `celery_workers`)."""
    return celery_workers()


def worker_node(name: str) -> str:
    """The node name Celery gives a worker started as `name` by `celery_worker_start` (pinged by name)."""
    return f"{name}@{socket.gethostname()}"


def celery_worker_start(env: dict[str, str], queue: str, name: str = "") -> subprocess.Popen[bytes]:
    """Start a solo-pool `celery worker` process consuming `queue`, named `worker_node(name or queue)` (not
    waited for: `_wait_for_worker`)."""
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "solo", "-Q", queue]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"]
    return subprocess.Popen([*command, "-n", worker_node(name or queue)], cwd=ROOT, env=env)


def _wait_for_worker(app: object, proc: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"celery worker exited with {proc.returncode}")
        if app.control.ping(destination=[name], timeout=0.5):  # type: ignore[attr-defined]
            return
    raise RuntimeError("celery worker did not answer within 60 s")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """STRATIFY_TEST_DB_SUFFIX gives concurrent test runs (several developers) their own database."""
    from django.conf import settings

    suffix = os.environ.get("STRATIFY_TEST_DB_SUFFIX", "")
    if suffix:
        for db in settings.DATABASES.values():
            db.setdefault("TEST", {})["NAME"] = f"test_{db['NAME']}_{suffix}"


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Each test starts with an empty cache (Redis DB 15 under the test settings): no discovery documents,
    JWKS, tokens or replay entries leak from one test into the next."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _fresh_outbound_registry(request: pytest.FixtureRequest) -> Iterator[None]:
    """Registered outbound bases are re-read in each test. A test using `live_server` plays the registered
    sandbox EHR on it, so its base is registered (OUTBOUND_ALLOWED_BASES); every other loopback port
    stays refused (config.outbound)."""
    from config import outbound

    outbound.registered_forget()
    if "live_server" not in request.fixturenames:
        yield
        return
    settings = request.getfixturevalue("settings")
    live_server = request.getfixturevalue("live_server")
    settings.OUTBOUND_ALLOWED_BASES = [*settings.OUTBOUND_ALLOWED_BASES, live_server.url]
    outbound.registered_forget()
    yield
    outbound.registered_forget()


@pytest.fixture
def outbound_allowed(settings: Any) -> Callable[[str], None]:
    """Register a base URL (a test's own loopback server) as the operator would in OUTBOUND_ALLOWED_BASES."""
    from config import outbound

    def allow(base: str) -> None:
        settings.OUTBOUND_ALLOWED_BASES = [*settings.OUTBOUND_ALLOWED_BASES, base]
        outbound.registered_forget()

    return allow


@pytest.fixture(scope="session", autouse=True)
def _no_lingering_connections(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """At the end, end the test database's connections left by server and pool threads, so that it drops
    cleanly (PostgreSQL refuses to drop a database that other sessions are using)."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
