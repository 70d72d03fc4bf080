"""SMART App Launch client settings (smart_launch): client ids, caches, timeouts, key rotation, retention."""

from config.env import env

# The client ids the EHR's authorization server knows us by, for launch and for SMART Backend Services
# (`sandbox_setup` registers them with the sandbox).
SMART_SIDEBAR_CLIENT_ID = env.str("SMART_SIDEBAR_CLIENT_ID", default="stratify-sidebar")
SMART_BACKEND_CLIENT_ID = env.str("SMART_BACKEND_CLIENT_ID", default="stratify-backend")
# How long a discovered smart-configuration and an EHR's JWKS are cached (seconds).
SMART_DISCOVERY_CACHE_SECONDS = env.int("SMART_DISCOVERY_CACHE_SECONDS", default=3600)
# Timeout of one HTTP exchange with an authorization server (seconds).
SMART_HTTP_TIMEOUT = env.float("SMART_HTTP_TIMEOUT", default=10.0)
# An authorization request (state, PKCE verifier, nonce) must come back within this many seconds.
SMART_STATE_TTL_SECONDS = env.int("SMART_STATE_TTL_SECONDS", default=600)
# Access tokens are refreshed when they have fewer than this many seconds left.
SMART_REFRESH_LEEWAY_SECONDS = env.int("SMART_REFRESH_LEEWAY_SECONDS", default=60)
# `manage.py smart_cleanup` (and its hourly Celery beat task) deletes a session without a refresh token as
# soon as its access token expires, and one with a refresh token once the access token has been expired
# this many hours: every use refreshes it, and EHRs do not say how long a refresh token lives.
SMART_SESSION_RETENTION_HOURS = env.int("SMART_SESSION_RETENTION_HOURS", default=24)
# Retired client keys stay in the public JWKS this long so in-flight assertions still verify.
SMART_RETIRED_KEY_GRACE_DAYS = env.int("SMART_RETIRED_KEY_GRACE_DAYS", default=7)
# The sidebar's score trend: recomputed every STEP hours over the last WINDOW hours.
SMART_TREND_WINDOW_HOURS = env.int("SMART_TREND_WINDOW_HOURS", default=24)
SMART_TREND_STEP_HOURS = env.int("SMART_TREND_STEP_HOURS", default=2)
# How far back the sidebar reads Observations (hours).
