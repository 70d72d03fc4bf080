"""Celery workers announce themselves in Redis, so /readyz counts the workers that run, busy or not.

`app.control.ping` only hears a worker whose consumer is free to answer within the wait: a solo-pool worker in the
middle of a task (a write-back waiting on a slow EHR) or one that answers in 0.4 s counted as none. Instead each
worker's main process stamps its name with the time in one sorted set of the broker's Redis every
HEARTBEAT_SECONDS from a daemon thread (which runs while its pool works); a worker whose last stamp is older than
STALE_AFTER_SECONDS (killed, stopped without a goodbye, or cut off from Redis) no longer counts.
"""

import logging
import threading
import time
from typing import Any

import redis

logger = logging.getLogger(__name__)
KEY = "stratify:celery:workers"
HEARTBEAT_SECONDS = 5.0
STALE_AFTER_SECONDS = 3 * HEARTBEAT_SECONDS


def _client(broker_url: str) -> redis.Redis:
    return redis.Redis.from_url(broker_url, socket_connect_timeout=1, socket_timeout=1)


def heartbeat_stamp(broker_url: str, hostname: str, *, now: float | None = None) -> None:
    """Record that `hostname` is alive now."""
    _client(broker_url).zadd(KEY, {hostname: time.time() if now is None else now})


def heartbeat_forget(broker_url: str, hostname: str) -> None:
    """A worker's goodbye on a warm shutdown: it stops counting at once."""
    _client(broker_url).zrem(KEY, hostname)


def workers_alive(broker_url: str, *, now: float | None = None) -> int:
    """How many workers stamped within STALE_AFTER_SECONDS (older stamps are dropped)."""
    client = _client(broker_url)
    client.zremrangebyscore(KEY, "-inf", (time.time() if now is None else now) - STALE_AFTER_SECONDS)
    return int(client.zcard(KEY))


def heartbeat_start(broker_url: str, hostname: str) -> threading.Thread:
    """Stamp now, then every HEARTBEAT_SECONDS from a daemon thread, for the life of the worker process."""
    heartbeat_stamp(broker_url, hostname)
    thread = threading.Thread(target=_beat, args=(broker_url, hostname), name="worker-heartbeat", daemon=True)
    thread.start()
    return thread


def _beat(broker_url: str, hostname: str) -> None:
    while True:
        time.sleep(HEARTBEAT_SECONDS)
        try:
            heartbeat_stamp(broker_url, hostname)
        except redis.RedisError as exc:  # Redis away for a moment: the next beat tries again
            logger.warning("worker heartbeat failed: %s", exc)


def broker_redis_url(app: Any) -> str | None:
    """The broker's URL when it is Redis (the only broker heartbeats are kept in), else None."""
    url = str(app.conf.broker_write_url or app.conf.broker_url or "")
    return url if url.startswith(("redis://", "rediss://", "unix://")) else None
