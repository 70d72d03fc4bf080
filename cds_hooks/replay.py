"""Each CDS client JWT (`jti`) is accepted once while the token is valid, in every process and host.

CDS Hooks 2.0 "Trusting CDS Clients": the `jti` lets the service refuse a replayed token. The store must
be shared by every worker, or a replay sent to another process (or after a per-process cache evicted the
entry) passes. CDS_JTI_STORE picks it:
- "cache": the Django cache when it is Redis (REDIS_URL): `cache.add` is SET NX with a TTL, atomic;
- "database": the `UsedJti` table (the default without Redis): a primary-key insert is atomic too; rows
  are kept until the token's `exp` plus the leeway and purged by later inserts.
Production refuses a store that is not shared (cds_hooks.checks).

With the database store, a CDS service call claims its jti in the transaction that records the call (its issued
cards, write-backs and audit records; `jti_claim`), not in one of its own before: one write transaction less on the
hot path. A replay then fails that transaction (nothing of it is kept) and is answered 401 as before; an error on
the way claims the jti on its own (`jti_claim_after_error`), so every token is still accepted once.
"""

import hashlib
import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from cds_hooks.models import UsedJti
from config.errors import DATABASE_ERRORS

logger = logging.getLogger(__name__)

# One insert in PURGE_ONE_IN (chosen by the digest, so without any randomness) deletes the expired rows.
PURGE_ONE_IN = 16


class TokenReplayed(Exception):
    """The jti claimed in a call's recording transaction was used before: that transaction is rolled back."""


def jti_first_use(*, iss: str, jti: str, exp: float) -> bool:
    """Record this token's use; False when it was used before (a replay)."""
    digest, ttl = _digest(iss, jti), _ttl(exp)
    if settings.CDS_JTI_STORE == "cache":
        return bool(cache.add(f"cds:jti:{digest}", 1, timeout=ttl))
    try:
        with transaction.atomic():
            _database_insert(digest, ttl)
    except IntegrityError:  # a row outlives its token, so an existing one is always a replay
        return False
    return True


def jti_deferrable() -> bool:
    """Whether a call may claim its jti in its own recording transaction (the database store)."""
    return bool(settings.CDS_JTI_STORE == "database")


def jti_claim(*, iss: str, jti: str, exp: float) -> None:
    """Inside the caller's transaction: record this token's use, or raise TokenReplayed (the caller's transaction
    is then to be rolled back: on PostgreSQL the failed insert has aborted it)."""
    try:
        _database_insert(_digest(iss, jti), _ttl(exp))
    except IntegrityError as exc:
        raise TokenReplayed from exc


def jti_claim_after_error(*, iss: str, jti: str, exp: float) -> None:
    """A call that ended in an error before its recording transaction: claim the jti now, on its own (a token is
    accepted once, whatever the answer was); already claimed, or our database down, changes nothing."""
    try:
        jti_first_use(iss=iss, jti=jti, exp=exp)
    except DATABASE_ERRORS:
        logger.warning("could not record a CDS token's jti after an error", exc_info=True)


def _digest(iss: str, jti: str) -> str:
    return hashlib.sha256(f"{iss}\x00{jti}".encode()).hexdigest()


def _ttl(exp: float) -> int:
    return max(1, int(exp) + int(settings.CDS_JWT_LEEWAY_SECONDS) - int(time.time()))


def _database_insert(digest: str, ttl: int) -> None:
    now = timezone.now()
    if int(digest, 16) % PURGE_ONE_IN == 0:
        used_jti_purge(now=now)
    UsedJti.objects.create(digest=digest, expires_at=now + timedelta(seconds=ttl))


def used_jti_purge(*, now: datetime | None = None) -> int:
    """Delete the rows of tokens that can no longer be accepted; returns how many."""
    deleted, _ = UsedJti.objects.filter(expires_at__lt=now or timezone.now()).delete()
    return deleted
