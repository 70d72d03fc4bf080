"""Production settings refuse unsafe configuration with clear system-check messages."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOOD = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "SECRET_KEY": "x" * 64,
    "ALLOWED_HOSTS": "stratify.example.org",
    "FIELD_ENCRYPTION_KEY": "lCMTFOw0_DjZy3nE2p3o2rUjz8dWE7XHxDbRT3hx4_g=",
    "AUDIT_PSEUDONYM_KEY": "k" * 64,
    "AUDIT_CHAIN_KEY": "c" * 64,
    "DATABASE_URL": "sqlite:////tmp/stratify-prod-check.sqlite3",
    "PUBLIC_BASE_URL": "https://stratify.example.org",
    "REDIS_URL": "redis://127.0.0.1:6379/9",  # the shared jti replay store (never contacted by `check`)
}


def _check(**overrides: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in GOOD and k not in ("DEBUG", "REDIS_URL")}
    env.update(GOOD)
    env.update(overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


class ProductionCheckTests:
    def test_per_process_replay_store_is_refused(self) -> None:
        """No Redis and SQLite: the CDS JWT replay store would not be shared by every worker."""
        result = _check(REDIS_URL="")
        assert result.returncode != 0 and "stratify.E020" in result.stderr

    def test_database_replay_store_on_postgresql_passes(self) -> None:
        result = _check(REDIS_URL="", DATABASE_URL="postgres://postgres@127.0.0.1:5432/stratify_check")
        assert result.returncode == 0, result.stderr

    def test_good_configuration_passes(self) -> None:
        result = _check()
        assert result.returncode == 0, result.stderr

    def test_debug_is_refused(self) -> None:
        result = _check(DEBUG="true")
        assert result.returncode != 0
        assert "stratify.E001" in result.stderr and "DEBUG is on in production" in result.stderr

    def test_default_secret_is_refused(self) -> None:
        env = dict(GOOD)
        result = _check(SECRET_KEY="short")
        assert result.returncode != 0 and "stratify.E002" in result.stderr
        assert env  # the good baseline itself is covered above

    def test_empty_allowed_hosts_is_refused(self) -> None:
        result = _check(ALLOWED_HOSTS="")
        assert result.returncode != 0 and "stratify.E003" in result.stderr

    def test_missing_encryption_key_is_refused(self) -> None:
        result = _check(FIELD_ENCRYPTION_KEY="")
        assert result.returncode != 0 and "stratify.E004" in result.stderr

    def test_plain_http_public_url_is_refused(self) -> None:
        result = _check(PUBLIC_BASE_URL="http://stratify.example.org")
        assert result.returncode != 0 and "stratify.E007" in result.stderr

    def test_wsgi_refuses_to_start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in GOOD}
        env.update(GOOD, DEBUG="true")
        result = subprocess.run(
            [sys.executable, "-c", "import config.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode != 0
        assert "Stratify refuses to start" in result.stderr


class EntryPointDefaultTests:
    """gunicorn and Celery started without DJANGO_SETTINGS_MODULE run production settings and refuse defaults."""

    @staticmethod
    def _bare_env() -> dict[str, str]:
        unset = {*GOOD, "DEBUG", "REDIS_URL", "SANDBOX_EHR_ENABLED", "STRATIFY_PRODUCTION"}
        return {k: v for k, v in os.environ.items() if k not in unset}

    def _run(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(command), cwd=ROOT, env=self._bare_env(), capture_output=True, text=True, timeout=120
        )

    def test_gunicorn_defaults_to_production(self) -> None:
        result = self._run(
            str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "--config", "config/gunicorn.py", "--bind", "127.0.0.1:0"
        )
        assert result.returncode != 0
        assert "Stratify refuses to start" in result.stderr and "stratify.E002" in result.stderr

    def test_celery_worker_defaults_to_production(self) -> None:
        result = self._run(sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "solo", "-l", "WARNING")
        assert result.returncode != 0
        assert "Stratify refuses to start" in result.stderr and "stratify.E004" in result.stderr

    def test_celery_beat_defaults_to_production(self) -> None:
        result = self._run(
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "-l",
            "WARNING",
            "--schedule",
            "/tmp/stratify-beat-refusal-test",
        )
        assert result.returncode != 0
        assert "Stratify refuses to start" in result.stderr

    def test_manage_py_defaults_to_the_embedded_settings(self) -> None:
        result = self._run(
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.conf import settings; print(settings.SETTINGS_MODULE)",
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == "config.settings.base"
