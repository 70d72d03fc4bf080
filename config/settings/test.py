"""Test settings: real PostgreSQL and Redis on loopback (the README test command starts them)."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/stratify")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
os.environ.setdefault("DB_CONN_MAX_AGE", "0")
# In-process write-back retries wait their backoff (fhirapp/tasks.py): fractions of a second in tests.
os.environ.setdefault("WRITEBACK_RETRY_BASE_SECONDS", "0.05")
os.environ.setdefault("WRITEBACK_RETRY_MAX_SECONDS", "0.2")  # live_server threads must not keep test-DB connections

from config.settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING["root"]["level"] = "WARNING"  # type: ignore[index]  # noqa: F405
