"""Deliver write-backs after the response, never inside it: Celery when a broker runs, else a thread pool.

With a broker (REDIS_URL), the Celery task runs in a worker process. In the embedded default
(CELERY_TASK_ALWAYS_EAGER, no Redis), the same task runs eagerly in a small in-process pool of
WRITEBACK_THREADS daemon threads, so a slow or hung EHR never holds a CDS answer, the sidebar, or a stop: at
exit the process waits at most WRITEBACK_SHUTDOWN_GRACE_SECONDS for deliveries under way, then releases the
leases of those left (queued or hung) so that they stay pending, due now, for the reconciler. In the embedded
default the reconciler runs in each serving process too (`write_back_background_start`, gunicorn's post_fork),
every WRITEBACK_RECONCILE_INTERVAL_SECONDS; with a broker, Celery beat runs it.

The broker's queue is bounded (WRITEBACK_QUEUE_MAX): past it a delivery is not queued and its row stays
pending, due now; the reconciler (writeback_reconcile, Celery beat) queues it once the queue has room.
"""

import atexit
import logging
import queue
import threading

from amqp.exceptions import ChannelError
from celery import current_app
from django.conf import settings
from django.db import connections
from django.utils import timezone
from prometheus_client import Counter

from config.background import periodic_once, periodic_start
from config.ttl_cache import TtlCache
from fhirapp.models import WriteBack

logger = logging.getLogger(__name__)
_QUEUE_LENGTH: TtlCache[str, int] = TtlCache(1.0)  # one broker round trip a second at most, per process
DEFERRED = Counter("stratify_writeback_deferred", "Write-backs left pending because the queue was full")


class _Pool:
    """The embedded default's background deliveries: a queue and daemon threads (a hung EHR never holds an exit)."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.queue: queue.SimpleQueue[int] = queue.SimpleQueue()
        self.outstanding: dict[int, int] = {}  # write-back id -> deliveries queued or under way
        self.threads: list[threading.Thread] = []
        self.timers: dict[int, threading.Timer] = {}  # write-back id -> its retry, waiting out the backoff

    def submit(self, write_back_id: int) -> None:
        """Queue it now; a retry waiting for it (`submit_later`) is dropped: this delivery replaces it."""
        with self.lock:
            self._count(write_back_id)
        self.queue.put(write_back_id)

    def submit_later(self, write_back_id: int, delay: float) -> None:
        """Queue it after `delay` s; outstanding meanwhile (a drain waits for the retry too)."""
        timer = threading.Timer(delay, self._fire, args=(write_back_id,))
        timer.daemon = True  # a waiting retry never holds an exit: the row stays due, for the reconciler
        with self.lock:
            self._count(write_back_id)
            self.timers[write_back_id] = timer
        timer.start()

    def _count(self, write_back_id: int) -> None:
        """One more delivery outstanding (lock held), replacing a retry that waits for the same row."""
        self._start_threads()
        waiting = self.timers.pop(write_back_id, None)
        if waiting is not None:
            waiting.cancel()
            self._done_locked(write_back_id)
        self.outstanding[write_back_id] = self.outstanding.get(write_back_id, 0) + 1

    def _fire(self, write_back_id: int) -> None:
        with self.lock:
            if self.timers.get(write_back_id) is not threading.current_thread():
                return  # replaced by a delivery queued meanwhile
            del self.timers[write_back_id]
        self.queue.put(write_back_id)

    def _start_threads(self) -> None:
        while len(self.threads) < settings.WRITEBACK_THREADS:
            thread = threading.Thread(target=self._work, name=f"write-back-{len(self.threads)}", daemon=True)
            self.threads.append(thread)
            thread.start()

    def _work(self) -> None:
        while True:
            write_back_id = self.queue.get()
            try:
                _deliver_in_process(write_back_id)
            finally:
                self._done(write_back_id)

    def _done(self, write_back_id: int) -> None:
        with self.lock:
            self._done_locked(write_back_id)

    def _done_locked(self, write_back_id: int) -> None:
        left = self.outstanding.pop(write_back_id, 1) - 1
        if left > 0:
            self.outstanding[write_back_id] = left
        self.lock.notify_all()

    def length(self) -> int:
        with self.lock:
            return sum(self.outstanding.values())

    def drain(self, timeout: float) -> list[int]:
        """Wait until nothing is queued or under way, at most `timeout` s; the ids still outstanding."""
        with self.lock:
            self.lock.wait_for(lambda: not self.outstanding, timeout=timeout)
            return list(self.outstanding)


_POOL = _Pool()


def write_back_queue_length() -> int:
    """Write-back messages waiting: in the broker's queue, or (eager mode) in this process's background pool."""
    if current_app.conf.task_always_eager:
        return _POOL.length()
    queue_name = str(current_app.conf.task_default_queue)
    try:
        with current_app.connection_for_read() as conn:
            return int(conn.default_channel.queue_declare(queue=queue_name, passive=True).message_count)
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
    _POOL.submit(write_back_id)
    return True


def write_back_dispatch_later(write_back_id: int, delay: float) -> None:
    """Eager mode: deliver again after `delay` s in this process's background pool (a retry's backoff)."""
    _POOL.submit_later(write_back_id, delay)


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
    return not _POOL.drain(timeout)


def write_back_shutdown(grace: float | None = None) -> list[int]:
    """At exit: wait at most `grace` s (WRITEBACK_SHUTDOWN_GRACE_SECONDS) for the in-process deliveries, then
    release the leases of those still queued or under way, so that they stay pending, due now, for the
    reconciler (an EHR that hangs must not hold a stop). The ids left to the reconciler."""
    left = _POOL.drain(settings.WRITEBACK_SHUTDOWN_GRACE_SECONDS if grace is None else grace)
    if not left:
        return []
    with _POOL.lock:
        waiting = set(_POOL.timers)  # retries waiting out their backoff: their rows are due then, not now
    try:
        WriteBack.objects.filter(pk__in=set(left) - waiting, status=WriteBack.Status.PENDING).update(
            lease_until=None, next_attempt_at=timezone.now(), updated_at=timezone.now()
        )
    except Exception:  # our database is down as well: the leases run out by themselves (the task's time limit)
        logger.warning("write-back shutdown: could not release %s lease(s)", len(left), exc_info=True)
    logger.warning("write-back: %s delivery(ies) left pending for the reconciler at exit", len(left))
    return left


atexit.register(write_back_shutdown)


def write_back_background_start() -> bool:
    """Embedded default only: run the reconciler in this process every WRITEBACK_RECONCILE_INTERVAL_SECONDS
    (with a broker, Celery beat does). Called where a serving process starts (gunicorn's post_fork); once."""
    return periodic_start("write-back-reconciler", "WRITEBACK_RECONCILE_INTERVAL_SECONDS", _reconcile)


def write_back_reconcile_once() -> int:
    """One run of the reconciler in this process; an error (our database down) is logged, never raised."""
    return periodic_once("write-back-reconciler", _reconcile)


def _reconcile() -> int:
    from fhirapp.services.writeback_reconcile import write_back_reconcile  # it imports this module

    return write_back_reconcile()
