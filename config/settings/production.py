"""Production settings: secure defaults, the sandbox EHR off; config.checks refuses unsafe values."""

import os

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SANDBOX_EHR_ENABLED", "false")

from config.env import env
from config.settings.base import *  # noqa: F403

STRATIFY_PRODUCTION = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_SAMESITE = "Lax"  # admin and every page but the sidebar (config.sessions)
SIDEBAR_SESSION_COOKIE_SAMESITE = "None"  # the sidebar lives in the EHR's frame (cross-site) ...
SIDEBAR_SESSION_COOKIE_SECURE = True  # ... which browsers allow only on Secure cookies
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_CONTENT_TYPE_NOSNIFF = True
