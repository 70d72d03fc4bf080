"""SMART Backend Services client for background work (write-back): client_credentials + signed JWT, cached.

Spec: SMART App Launch 2.2 "Backend Services" (https://hl7.org/fhir/smart-app-launch/backend-services.html).
The token is kept in the Django cache (Redis when configured, so shared by workers) until shortly
before it expires; the cache entry is encrypted like every token at rest.
"""

import hashlib

from django.conf import settings
from django.core.cache import cache

from config.keys import decrypt_text, encrypt_text
from smart_launch import client

EXPIRY_MARGIN_SECONDS = 60
DEFAULT_LIFETIME_SECONDS = 300


def _cache_key(iss: str, scope: str) -> str:
    scope_key = " ".join(sorted(scope.split()))
    return "smart:backend:" + hashlib.sha256(f"{iss}\n{scope_key}".encode()).hexdigest()


def backend_access_token(*, iss: str, scope: str, fresh: bool = False) -> str:
    """A system-level access token for the FHIR server `iss`; raises TokenExchangeFailed.

    `fresh=True` skips the cached one (the server refused it: revoked, or expired earlier than it said).
    """
    key = _cache_key(iss, scope)
    cached = None if fresh else cache.get(key)
    if isinstance(cached, str):
        return decrypt_text(cached)
    token = client.client_credentials_token(
        config=client.discover(iss), client_id=settings.SMART_BACKEND_CLIENT_ID, scope=scope
    )
    expires_in = token.get("expires_in")
    lifetime = int(expires_in) if isinstance(expires_in, int) and expires_in > 0 else DEFAULT_LIFETIME_SECONDS
    ttl = lifetime - EXPIRY_MARGIN_SECONDS
    if ttl > 0:
        cache.set(key, encrypt_text(token["access_token"]), ttl)
    return str(token["access_token"])
