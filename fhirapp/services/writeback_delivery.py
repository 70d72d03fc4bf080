"""Deliver write-backs after the response, never inside it: Celery when a broker runs, else a thread pool.

With a broker (REDIS_URL), the Celery task runs in a worker process. In the embedded default
(CELERY_TASK_ALWAYS_EAGER, no Redis), the same task runs eagerly in a small in-process pool of
WRITEBACK_THREADS background threads, so a slow or hung EHR never holds a CDS answer or the sidebar.
Rows of a process that stops with deliveries queued stay pending (admin "Retry", or a worker's retry).

The broker's queue is bounded (WRITEBACK_QUEUE_MAX): past it a delivery is not queued and its row stays
pending, due now; the reconciler (writeback_reconcile, Celery beat) queues it once the queue has room.
"""

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait

from amqp.exceptions import ChannelError
from celery import current_app
from django.conf import settings
from django.db import connections
from prometheus_client import Counter

from config.ttl_cache import TtlCache

logger = logging.getLogger(__name__)
_LOCK = threading.Lock()
_POOL: dict[str, ThreadPoolExecutor] = {}
_PENDING: set[Future[None]] = set()
_QUEUE_LENGTH: TtlCache[str, int] = TtlCache(1.0)  # one broker round trip a second at most, per process
DEFERRED = Counter("stratify_writeback_deferred", "Write-backs left pending because the queue was full")


def write_back_queue_length() -> int:
    """Write-back messages waiting: in the broker's queue, or (eager mode) in this process's background pool."""
    if current_app.conf.task_always_eager:
        with _LOCK:
            return len(_PENDING)
    queue = str(current_app.conf.task_default_queue)
    try:
        with current_app.connection_for_read() as conn:
            return int(conn.default_channel.queue_declare(queue=queue, passive=True).message_count)
    except ChannelError:  # no such queue yet: nothing was ever queued, or all of it was taken
        return 0


def write_back_queue_full() -> bool:
    """True when WRITEBACK_QUEUE_MAX messages (or more) already wait in the broker."""
    return _QUEUE_LENGTH.get("length", write_back_queue_length) >= int(settings.WRITEBACK_QUEUE_MAX)


def write_back_dispatch(write_back_id: int) -> bool:
    """Queue one delivery: to the Celery broker, or (eager mode) to the in-process background pool.

    False when the broker's queue is full: the row stays pending for the reconciler.
    """
    from fhirapp.tasks import write_back_send  # the task module imports the write-back services

    if not current_app.conf.task_always_eager:
        if write_back_queue_full():
            DEFERRED.inc()
            logger.warning(
                "write-back %s left pending: the queue holds %s or more", write_back_id, settings.WRITEBACK_QUEUE_MAX
            )
            return False
        write_back_send.delay(write_back_id)
        return True
    future = _pool().submit(_deliver_in_process, write_back_id)
    with _LOCK:
        _PENDING.add(future)
    future.add_done_callback(_forget)
    return True


def _pool() -> ThreadPoolExecutor:
    with _LOCK:
        if "pool" not in _POOL:
            _POOL["pool"] = ThreadPoolExecutor(max_workers=settings.WRITEBACK_THREADS, thread_name_prefix="write-back")
        return _POOL["pool"]


def _forget(future: Future[None]) -> None:
    with _LOCK:
        _PENDING.discard(future)


def _deliver_in_process(write_back_id: int) -> None:
    """Run the Celery task eagerly in this thread (its retries included); failures are on the row, not raised."""
    from fhirapp.tasks import write_back_send

    try:
        write_back_send.apply(args=(write_back_id,))
    except Exception:  # the task marked the row failed; nothing else waits for this thread
        logger.warning("write-back %s: in-process delivery failed", write_back_id, exc_info=True)
    finally:
        connections.close_all()  # this pool thread's own database connection


def write_back_drain(timeout: float = 60.0) -> bool:
    """Wait until the in-process deliveries queued so far have finished (tests, shutdown); False on timeout."""
    with _LOCK:
        pending = set(_PENDING)
    done, not_done = wait(pending, timeout=timeout)
    return not not_done
