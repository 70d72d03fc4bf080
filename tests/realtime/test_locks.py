"""Patient locks a group per round trip (`realtime.locks`), on the real Redis: taken, contended, renewed, released."""

from typing import Any

import pytest
import redis

from realtime.locks import PatientLocks, lock_name
from realtime.stream import stream_client

pytestmark = pytest.mark.integration
KEYS = [(1, "Patient/a"), (1, "Patient/b"), (1, "Patient/c")]


@pytest.fixture
def client() -> Any:
    found = stream_client()
    found.delete(*[lock_name(k) for k in KEYS])
    yield found
    found.delete(*[lock_name(k) for k in KEYS])


def _round_trips(client: redis.Redis, monkeypatch: Any) -> list[int]:
    """Counts the pipelines executed (one round trip each) and the lone commands."""
    counts = [0]
    execute = redis.client.Pipeline.execute

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        counts[0] += 1
        return execute(self, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", counted)
    return counts


def test_free_locks_are_taken_renewed_and_released_one_round_trip_each(client: Any, monkeypatch: Any) -> None:
    pipelines = _round_trips(client, monkeypatch)
    with PatientLocks(client, timeout=30, wait=0.1) as locks:
        assert locks.take(KEYS) == KEYS and pipelines == [1]
        assert all(client.pttl(lock_name(k)) > 0 for k in KEYS)
        assert locks.renew() == set(KEYS) and pipelines == [2]
    assert pipelines == [3] and not any(client.exists(lock_name(k)) for k in KEYS)


def test_a_lock_held_elsewhere_is_waited_for_then_left_out_and_never_released_by_us(client: Any) -> None:
    other = client.lock(lock_name(KEYS[1]), timeout=30)
    assert other.acquire(blocking=False)  # another consumer rescores b
    with PatientLocks(client, timeout=30, wait=0.2) as locks:
        assert locks.take(KEYS) == [KEYS[0], KEYS[2]]
        assert set(locks.held) == {KEYS[0], KEYS[2]}
    assert client.get(lock_name(KEYS[1])) == other.local.token  # still theirs
    assert not client.exists(lock_name(KEYS[0])) and not client.exists(lock_name(KEYS[2]))
    other.release()


def test_a_lock_that_expired_and_was_taken_elsewhere_is_not_renewed_nor_released(client: Any) -> None:
    with PatientLocks(client, timeout=30, wait=0.1) as locks:
        locks.take(KEYS[:2])
        client.delete(lock_name(KEYS[0]))  # expired ...
        other = client.lock(lock_name(KEYS[0]), timeout=30)
        assert other.acquire(blocking=False)  # ... and another consumer's now
        assert locks.renew() == {KEYS[1]}
    assert client.get(lock_name(KEYS[0])) == other.local.token
    other.release()


def test_redis_down_takes_nothing(monkeypatch: Any) -> None:
    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    locks = PatientLocks(down, timeout=30, wait=0.1)
    assert locks.take(KEYS) == [] and locks.renew() == set()
    locks.release()  # logged, nothing raised
