"""The shipped gunicorn config on PostgreSQL with production settings: every worker serves, metrics add up over
the workers, probes are restricted, and a stop ends within seconds (no worker hangs on its way out)."""

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.test_production_walkthrough import ROOT, _environment, _free_port, _manage, database

pytestmark = [pytest.mark.integration, pytest.mark.slow]
__all__ = ["database"]  # the walkthrough's own-database fixture
WORKERS = 2
TOKEN = "metrics-token-for-the-test"
HTTPS = {"X-Forwarded-Proto": "https"}


@pytest.fixture
def gunicorn(database: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    port = _free_port()
    env = {
        **_environment(database, port),
        "GUNICORN_WORKERS": str(WORKERS),
        "METRICS_TOKEN": TOKEN,
        "METRICS_ALLOWED_NETWORKS": "10.255.255.0/24",
    }  # loopback is not allowed: only the token opens
    _manage(env, "migrate", "--noinput")
    _manage(env, "production_setup")  # the shipped models, so that /readyz is ready
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/gunicorn"),
                "config.wsgi",
                "--config",
                "config/gunicorn.py",
                "--access-logfile",
                "-",
                "--access-logformat",
                "served-by %(p)s %(s)s %(U)s",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_up(base, proc, log)
            yield {"proc": proc, "base": base, "log": log}
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


def _wait_up(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if requests.get(f"{base}/healthz", headers=HTTPS, timeout=5).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or workers still loading their models
            pass
        time.sleep(0.3)
    raise AssertionError(f"gunicorn did not answer: {log.read_text()[-3000:]}")


def _booted(log: Path) -> set[str]:
    return set(re.findall(r"Booting worker with pid: (\d+)", log.read_text()))


def _served_by(log: Path) -> set[str]:
    return set(re.findall(r"served-by <(\d+)> 200 /readyz", log.read_text()))


def _requests_total(base: str) -> float:
    text = requests.get(f"{base}/metrics", headers={**HTTPS, "Authorization": f"Bearer {TOKEN}"}, timeout=10).text
    match = re.search(r'^django_http_requests_total_by_method_total\{method="GET"\} ([0-9.e+]+)$', text, re.M)
    assert match, text[:2000]
    return float(match.group(1))


def test_every_worker_serves_metrics_add_up_and_stop_is_prompt(gunicorn: dict[str, Any]) -> None:
    base, log, proc = gunicorn["base"], gunicorn["log"], gunicorn["proc"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(10):  # until every worker has answered /readyz (which reads the database and the models)
            answers = list(pool.map(lambda _: requests.get(f"{base}/readyz", headers=HTTPS, timeout=30), range(24)))
            assert all(a.status_code == 200 and a.json() == {"status": "ready"} for a in answers), answers[0].text
            if len(_served_by(log)) >= WORKERS:
                break
    assert len(_booted(log)) == WORKERS, log.read_text()[-3000:]  # none died at boot and was replaced
    assert _served_by(log) == _booted(log)
    assert "Traceback" not in log.read_text()

    first = _requests_total(base)
    for _ in range(30):
        requests.get(f"{base}/healthz", headers=HTTPS, timeout=10)
    second = _requests_total(base)
    assert first >= 24 and second >= first + 30, (first, second)  # one sum over every worker, never one worker's

    denied = requests.get(f"{base}/metrics", headers=HTTPS, timeout=10)
    assert denied.status_code == 403 and denied.json()["code"] == "permission_denied"
    detailed = requests.get(f"{base}/readyz", headers={**HTTPS, "Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert set(detailed.json()["components"]) >= {"database", "model_registry"}

    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)  # the graceful timeout is 30 s: a worker hanging on exit would run into it
    assert proc.returncode == 0, log.read_text()[-3000:]
