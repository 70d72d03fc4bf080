"""Patient locks a group per round trip (`realtime.locks`), on the real Redis: taken, contended, renewed, released."""

import time
from typing import Any

import pytest
import redis

from realtime.locks import PatientLocks, lock_name
from realtime.stream import stream_client

pytestmark = pytest.mark.integration
KEYS = [(1, "Patient/a"), (1, "Patient/b"), (1, "Patient/c")]
LATER = time.monotonic() + 3600  # a deadline not reached


@pytest.fixture
def client() -> Any:
    found = stream_client()
    found.delete(*[lock_name(k) for k in KEYS])
    yield found
    found.delete(*[lock_name(k) for k in KEYS])


def _pipelines(monkeypatch: Any) -> list[int]:
    """Counts the pipelines executed (redis-py adds a SCRIPT EXISTS before one that runs scripts)."""
    counts = [0]
    execute = redis.client.Pipeline.execute

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        counts[0] += 1
        return execute(self, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", counted)
    return counts


def test_free_locks_are_taken_renewed_and_released_one_pipeline_each(client: Any, monkeypatch: Any) -> None:
    pipelines = _pipelines(monkeypatch)
    with PatientLocks(client, timeout=30, wait=0.1) as locks:
        assert locks.take(KEYS, LATER) == (KEYS, []) and pipelines == [1]
        assert all(client.pttl(lock_name(k)) > 0 for k in KEYS)
        assert locks.renew() == set(KEYS) and pipelines == [2]
    assert pipelines == [3] and not any(client.exists(lock_name(k)) for k in KEYS)


def test_a_lock_held_elsewhere_is_waited_for_then_left_out_and_never_released_by_us(client: Any) -> None:
    other = client.lock(lock_name(KEYS[1]), timeout=30)
    assert other.acquire(blocking=False)  # another consumer rescores b
    with PatientLocks(client, timeout=30, wait=0.2) as locks:
        assert locks.take(KEYS, LATER) == ([KEYS[0], KEYS[2]], [])
        assert set(locks.held) == {KEYS[0], KEYS[2]}
    assert client.get(lock_name(KEYS[1])) == other.local.token  # still theirs
    assert not client.exists(lock_name(KEYS[0])) and not client.exists(lock_name(KEYS[2]))
    other.release()


def test_a_lock_that_expired_and_was_taken_elsewhere_is_not_renewed_nor_released(client: Any) -> None:
    with PatientLocks(client, timeout=30, wait=0.1) as locks:
        locks.take(KEYS[:2], LATER)
        client.delete(lock_name(KEYS[0]))  # expired ...
        other = client.lock(lock_name(KEYS[0]), timeout=30)
        assert other.acquire(blocking=False)  # ... and another consumer's now
        assert locks.renew() == {KEYS[1]}
    assert client.get(lock_name(KEYS[0])) == other.local.token
    other.release()


def test_waiting_stops_at_the_deadline_and_hands_the_untried_keys_back(client: Any) -> None:
    other = client.lock(lock_name(KEYS[0]), timeout=30)
    assert other.acquire(blocking=False)
    with PatientLocks(client, timeout=30, wait=0.2) as locks:
        assert locks.take(KEYS, time.monotonic()) == ([], KEYS[1:])  # the first is always tried (and waited for)
        assert locks.held == {} and not client.exists(lock_name(KEYS[1]))  # what the group got was given back
    other.release()


def test_a_round_trip_that_fails_midway_leaves_no_lock_of_ours_behind(client: Any, monkeypatch: Any) -> None:
    """The group's SETs may have reached Redis before the error (or a retried pipeline set them already): every
    lock of the group is given back before they are taken one by one, so none waits on its own stale lock."""
    execute = redis.client.Pipeline.execute
    failed: list[Any] = []

    def fail_once(self: Any, *args: Any, **kwargs: Any) -> Any:
        replies = execute(self, *args, **kwargs)
        if not failed:
            failed.append(replies)
            raise redis.ConnectionError("connection lost reading the replies")
        return replies

    monkeypatch.setattr(redis.client.Pipeline, "execute", fail_once)
    started = time.monotonic()
    with PatientLocks(client, timeout=30, wait=5) as locks:
        assert locks.take(KEYS, LATER) == (KEYS, [])
    assert failed == [[True, True, True]] and time.monotonic() - started < 4  # no wait on our own locks
    assert not any(client.exists(lock_name(k)) for k in KEYS)


def test_redis_down_renews_nothing_and_releases_without_raising(client: Any) -> None:
    locks = PatientLocks(client, timeout=30, wait=0.1)
    assert locks.take(KEYS[:2], LATER) == (KEYS[:2], [])
    locks.client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)  # Redis goes away
    assert locks.renew() == set() and set(locks.held) == set(KEYS[:2])  # kept, to be released
    locks.release()  # logged, nothing raised; the locks expire by themselves
    assert locks.held == {} and all(client.exists(lock_name(k)) for k in KEYS[:2])
