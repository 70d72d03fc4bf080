"""Each CDS client JWT (`jti`) is accepted once while the token is valid, in every process and host.

CDS Hooks 2.0 "Trusting CDS Clients": the `jti` lets the service refuse a replayed token. The store must
be shared by every worker, or a replay sent to another process (or after a per-process cache evicted the
entry) passes. CDS_JTI_STORE picks it:
- "cache": the Django cache when it is Redis (REDIS_URL): `cache.add` is SET NX with a TTL, atomic;
- "database": the `UsedJti` table (the default without Redis): a primary-key insert is atomic too; rows
  are kept until the token's `exp` plus the leeway and purged by later inserts.
Production refuses a store that is not shared (cds_hooks.checks).
"""

import hashlib
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from cds_hooks.models import UsedJti

# One insert in PURGE_ONE_IN (chosen by the digest, so without any randomness) deletes the expired rows.
PURGE_ONE_IN = 16


def jti_first_use(*, iss: str, jti: str, exp: float) -> bool:
    """Record this token's use; False when it was used before (a replay)."""
    digest = hashlib.sha256(f"{iss}\x00{jti}".encode()).hexdigest()
    ttl = max(1, int(exp) + settings.CDS_JWT_LEEWAY_SECONDS - int(time.time()))
    if settings.CDS_JTI_STORE == "cache":
        return bool(cache.add(f"cds:jti:{digest}", 1, timeout=ttl))
    return _database_first_use(digest, ttl)


def _database_first_use(digest: str, ttl: int) -> bool:
    now = timezone.now()
    if int(digest, 16) % PURGE_ONE_IN == 0:
        used_jti_purge(now=now)
    try:
        with transaction.atomic():
            UsedJti.objects.create(digest=digest, expires_at=now + timedelta(seconds=ttl))
    except IntegrityError:  # a row outlives its token, so an existing one is always a replay
        return False
    return True


def used_jti_purge(*, now: datetime | None = None) -> int:
    """Delete the rows of tokens that can no longer be accepted; returns how many."""
    deleted, _ = UsedJti.objects.filter(expires_at__lt=now or timezone.now()).delete()
    return deleted
