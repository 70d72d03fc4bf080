"""One django-environ reader for every settings module; secrets come only from the environment."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A developer may keep overrides in a local .env (never committed); real deployments use the environment.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Marker for the development-only secret: production checks refuse it.
INSECURE_DEV_SECRET = "insecure-dev-only-secret-key-change-me"  # noqa: S105  (refused in production)
