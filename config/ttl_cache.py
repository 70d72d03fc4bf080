"""A small per-process cache whose entries expire a fixed time after they were computed.

For values read on every request that may go stale for a few seconds (a registry row, a service
catalogue): other processes see a change within the TTL; the process that made the change calls
`clear()` at once. Entries are stamped with `time.monotonic()`, so wall-clock jumps do not matter.
The lock only guards the dict: two threads may compute the same missing value once each, never
hold each other up behind a database query.
"""

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """`get(key, compute)`: the value computed less than `ttl_seconds` ago, else `compute()` stored anew."""

    def __init__(self, ttl_seconds: float, *, max_entries: int = 1024) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: K, compute: Callable[[], V], *, stale_on: tuple[type[Exception], ...] = ()) -> V:
        """The fresh cached value of `key`, or the result of `compute()` (then cached).

        When `compute()` raises one of `stale_on` (our database is down) and an older value is held, that stale
        value is answered instead (not re-stamped: the next call tries again)."""
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and now - hit[0] < self.ttl_seconds:
            return hit[1]
        try:
            value = compute()
        except stale_on:
            if hit is None:
                raise
            return hit[1]
        with self._lock:
            if len(self._entries) >= self.max_entries:  # bounded: unknown keys cannot grow it forever
                self._entries.clear()
            self._entries[key] = (now, value)
        return value

    def clear(self) -> None:
        """Forget every entry (after a change made in this process, and in tests)."""
        with self._lock:
            self._entries.clear()
