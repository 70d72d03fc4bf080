"""The README's production section, followed step by step on this machine, ends with a scored CDS answer.

Production settings with test secrets and an https PUBLIC_BASE_URL (behind a TLS proxy: the client sends
X-Forwarded-Proto, which the production settings trust), PostgreSQL, Redis, `migrate`, `production_setup`,
trusting the EHR's CDS client, then gunicorn and a Celery worker started without DJANGO_SETTINGS_MODULE.
"""

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from django.conf import settings
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.cds_hooks.conftest import physionet_stay_resources

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
EHR_ISS = "https://ehr.walkthrough.example/cds-client"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def database() -> Iterator[str]:
    """An empty PostgreSQL database of its own, as on a clean machine."""
    db = settings.DATABASES["default"]
    name = f"{db['NAME']}_walkthrough"[:63]
    server = f"postgresql://{db['USER'] or 'postgres'}@{db['HOST']}:{db['PORT'] or 5432}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _environment(database_url: str, port: int) -> dict[str, str]:
    """The README's variables, with test secrets; nothing else from the test run leaks in."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "STRATIFY_DATA_DIR")}
    return {
        **keep,
        "SECRET_KEY": "s" * 64,
        "ALLOWED_HOSTS": "127.0.0.1",
        "PUBLIC_BASE_URL": f"https://127.0.0.1:{port}",
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "FIELD_ENCRYPTION_KEY": "lCMTFOw0_DjZy3nE2p3o2rUjz8dWE7XHxDbRT3hx4_g=",
        "AUDIT_PSEUDONYM_KEY": "a" * 64,
        "AUDIT_CHAIN_KEY": "c" * 64,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
    }


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings.production"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _ready(base: str, deadline: float) -> dict[str, Any]:
    """/readyz once it is 200 with a live worker (gunicorn and the worker start in parallel)."""
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            response = requests.get(f"{base}/readyz", headers={"X-Forwarded-Proto": "https"}, timeout=5)
            body = response.json()
            if response.status_code == 200 and body["components"]["celery_broker"].get("workers", 0) >= 1:
                return body
        except (requests.ConnectionError, ValueError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"never ready: {body}")


def _prefetch(resources: list[dict[str, Any]]) -> dict[str, Any]:
    def bundle(kind: str, category: str | None = None) -> dict[str, Any]:
        entries = [
            {"resource": r}
            for r in resources
            if r["resourceType"] == kind and (category is None or r["category"][0]["coding"][0]["code"] == category)
        ]
        return {"resourceType": "Bundle", "type": "searchset", "entry": entries}

    patient = next(r for r in resources if r["resourceType"] == "Patient")
    return {
        "patient": patient,
        "vitals": bundle("Observation", "vital-signs"),
        "labs": bundle("Observation", "laboratory"),
        "encounters": bundle("Encounter"),
        "other-observations": None,
    }


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for proc in processes:
        proc.terminate()
    for proc in processes:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_from_a_clean_database_to_a_scored_cds_answer(database: str, tmp_path: Path) -> None:
    port = _free_port()
    env, base = _environment(database, port), f"http://127.0.0.1:{port}"
    _manage(env, "migrate", "--noinput")
    first = _manage(env, "production_setup")
    assert "still missing: register the EHR" in first and "still missing: trust the EHR's CDS client" in first
    key = ECKey.generate_key("P-384", parameters={"kid": "walkthrough", "alg": "ES384"})
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    _manage(env, "cds_client", "add", "--iss", EHR_ISS, "--jwks-file", str(tmp_path / "jwks.json"))
    again = _manage(env, "production_setup")  # idempotent; only the EHR registration is left
    assert "still missing: register the EHR" in again and "trust the EHR's CDS client" not in again

    processes = [
        subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "--config", "config/gunicorn.py"], cwd=ROOT, env=env
        ),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-P",
                "solo",
                "-l",
                "WARNING",
                "-n",
                f"walkthrough-{uuid.uuid4().hex[:6]}@%h",
            ],
            cwd=ROOT,
            env=env,
        ),
    ]
    try:
        ready = _ready(base, time.monotonic() + 120)
        assert {m["name"] for m in ready["components"]["model_registry"]["models"]} >= {"sepsis", "news2"}
        resources = physionet_stay_resources()
        patient = next(r["id"] for r in resources if r["resourceType"] == "Patient")
        path = "/cds-services/stratify-news2"
        now = int(time.time())
        token = jwt.encode(
            {"alg": "ES384", "typ": "JWT", "kid": "walkthrough"},
            {
                "iss": EHR_ISS,
                "sub": "ehr",
                "aud": env["PUBLIC_BASE_URL"] + path,
                "iat": now,
                "exp": now + 300,
                "jti": str(uuid.uuid4()),
            },
            key,
            algorithms=["ES384"],
        )
        body: dict[str, Any] = {
            "hook": "patient-view",
            "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/1", "patientId": patient},
            "prefetch": _prefetch(resources),
        }
        response = requests.post(
            base + path,
            json=body,
            timeout=30,
            headers={"Authorization": f"Bearer {token}", "X-Forwarded-Proto": "https"},
        )
    finally:
        _stop(processes)
    assert response.status_code == 200, response.text
    [card] = response.json()["cards"]
    assert "Model: news2" in card["detail"] and card["indicator"] in ("info", "warning", "critical")
    assert "not scored" not in card["summary"]
