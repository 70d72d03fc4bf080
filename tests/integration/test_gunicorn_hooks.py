"""The production server as deployed: gunicorn with config/gunicorn.py, its fork hooks and a graceful stop."""

import http.client
import json
import signal
import socket
import subprocess
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _wait_until_serving(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited with {proc.returncode} before serving")
        try:
            if _get(port, "/healthz")[0] == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("gunicorn did not serve /healthz within 90 s")


@pytest.fixture
def gunicorn_port(child_process_env: dict[str, str]) -> object:
    """gunicorn (one sync worker, config/gunicorn.py) on the test database, stopped with SIGTERM."""
    call_command("install_models", stdout=StringIO())
    port = _free_port()
    env = {**child_process_env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "1"}
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "--config", "config/gunicorn.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_until_serving(proc, port)
        yield port
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_gunicorn_boots_a_worker_with_the_models_loaded_and_serves(gunicorn_port: int) -> None:
    """post_fork loads every serving model in the worker (a failure there would stop the worker from booting);
    the worker then answers liveness and readiness with each installed model ready."""
    status, body = _get(gunicorn_port, "/readyz")
    report = json.loads(body)
    assert status == 200, report
    models = report["components"]["model_registry"]["models"]
    assert {m["name"] for m in models} >= {"sepsis", "news2", "qsofa"}
    assert all(m["ready"] for m in models), models
