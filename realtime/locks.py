"""Per-patient Redis locks of a consumer's step, taken, checked and released a group of patients at a time.

A consumer folds a patient's events in and rescores them only under the patient's lock (`realtime.consumer`), and
stores the rescore only while it still holds it. The locks are redis-py's `Lock` (a key set with NX and an
expiry, renewed and released only by the token that set it, through redis-py's own scripts); what this adds is
doing it for many patients at once: a step rescores up to a hundred patients, and three round trips each (take,
renew before the store, release) cost about a tenth of a rescore. A group is taken in one round trip, renewed in
two and released in two (redis-py first checks, once per pipeline, that its scripts are loaded).

Order, so that two consumers never wait on each other: a consumer takes its patients' locks in ascending order and
waits only for a lock greater than every lock it holds. A group is tried in one round trip without waiting (no
one waits there); when any of it is held elsewhere (or the round trip failed), every lock of the group is given
back (the release script only deletes a lock still holding this consumer's token, so a lock set by a retried
round trip goes too) and the group's locks are taken one by one in order, each waiting up to the wait given (as a
lone `Lock.acquire` would), until a deadline: the keys not tried by then are handed back to the caller.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import redis
from redis.client import Pipeline
from redis.lock import Lock

logger = logging.getLogger(__name__)
PatientKey = tuple[int, str]  # (registration id, patient reference)


def lock_name(key: PatientKey) -> str:
    """The Redis key of a patient's lock."""
    return f"stratify:rt:lock:{key[0]}:{key[1]}"


class PatientLocks:
    """The patient locks one chunk of a step holds: `take` groups, `renew` before the store, `release` after (also
    on leaving the `with` block). A lock that expired meanwhile is not renewed and releases nothing."""

    def __init__(self, client: redis.Redis, *, timeout: float, wait: float) -> None:
        self.client, self.timeout, self.wait = client, timeout, wait
        self.held: dict[PatientKey, Lock] = {}

    def __enter__(self) -> PatientLocks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def take(self, keys: Sequence[PatientKey], deadline: float) -> tuple[list[PatientKey], list[PatientKey]]:
        """Lock `keys` (ascending, each greater than every key held): those locked, and those not tried because
        `deadline` (time.monotonic) passed while waiting for others (never the first). One round trip when all
        are free; a lock that cannot be had within the wait leaves that patient out (logged)."""
        locks = [self._lock(key) for key in keys]
        try:
            got = self._pipe(_set, locks)
        except redis.RedisError:
            logger.warning("real-time: patients' locks not taken at once; taking them one by one", exc_info=True)
            got = [None] * len(locks)
        if all(got):
            self.held.update(zip(keys, locks, strict=True))
            return list(keys), []
        self._give_back(locks)
        for i, (key, lock) in enumerate(zip(keys, locks, strict=True)):
            if i and time.monotonic() >= deadline:  # the first is always tried: each call makes progress
                return [k for k in keys[:i] if k in self.held], list(keys[i:])
            self._wait_for(key, lock)
        return [k for k in keys if k in self.held], []

    def renew(self) -> set[PatientKey]:
        """The held locks that are still this consumer's, renewed for the timeout; the others (expired, maybe
        another consumer's now, or not known after a Redis error) are not renewed (they stay held, to be released:
        the release script leaves another consumer's lock alone)."""
        keys = list(self.held)
        try:
            renewed = self._pipe(_renew, [self.held[key] for key in keys])
        except redis.RedisError:
            logger.warning("real-time: patients' locks could not be renewed; their events stay pending", exc_info=True)
            renewed = [0] * len(keys)
        still = {key for key, ok in zip(keys, renewed, strict=True) if ok}
        if len(still) < len(keys):
            lost = len(keys) - len(still)
            logger.warning("real-time: %d patients' locks lost before the store; their events stay pending", lost)
        return still

    def release(self) -> None:
        """Release every held lock (one already expired, or another consumer's since, is left alone)."""
        locks, self.held = list(self.held.values()), {}
        self._give_back(locks)

    def _lock(self, key: PatientKey) -> Lock:
        return self.client.lock(lock_name(key), timeout=self.timeout, blocking_timeout=self.wait)

    def _wait_for(self, key: PatientKey, lock: Lock) -> None:
        try:
            taken = lock.acquire()
        except redis.RedisError:
            taken = False
        if taken:
            self.held[key] = lock
        else:
            logger.warning("real-time: a patient's lock could not be taken; their events stay pending")

    def _give_back(self, locks: Sequence[Lock]) -> None:
        try:
            self._pipe(_release, locks)
        except redis.RedisError:
            logger.warning(
                "real-time: patients' locks not released; they expire after %s s", self.timeout, exc_info=True
            )

    def _pipe(self, add: Callable[[Pipeline, Lock, int], object], locks: Sequence[Lock]) -> list[Any]:
        """`add` (`_set`, `_renew` or `_release`) for each lock, in one pipeline; the replies in order."""
        if not locks:
            return []
        pipe = self.client.pipeline(transaction=False)
        for lock in locks:
            add(pipe, lock, int(self.timeout * 1000))
        return list(pipe.execute())


def _set(pipe: Pipeline, lock: Lock, timeout_ms: int) -> None:
    """Take `lock` with a new token if it is free (as `Lock.acquire` does, without waiting)."""
    lock.local.token = uuid.uuid1().hex.encode()
    pipe.set(lock.name, lock.local.token, nx=True, px=timeout_ms)


def _renew(pipe: Pipeline, lock: Lock, timeout_ms: int) -> None:
    """Renew `lock` for the timeout if its token still holds it (`Lock.reacquire`'s script)."""
    script = lock.lua_reacquire
    assert script is not None  # registered by every Lock
    script(keys=[lock.name], args=[lock.local.token, timeout_ms], client=pipe)


def _release(pipe: Pipeline, lock: Lock, timeout_ms: int) -> None:
    """Release `lock` if its token still holds it (`Lock.release`'s script)."""
    script = lock.lua_release
    assert script is not None
    script(keys=[lock.name], args=[lock.local.token], client=pipe)
