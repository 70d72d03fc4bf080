"""Periodic work inside each serving process of the embedded default (no broker, so no Celery beat).

With a broker, Celery beat runs the reconcilers (CELERY_BEAT_SCHEDULE). In the embedded default
(CELERY_TASK_ALWAYS_EAGER) each serving process runs them itself, each in a daemon thread started where the
process starts (gunicorn's post_fork): the write-back's and the population chunks'. An error (our database down)
is logged, and the next round tries again.
"""

import logging
import threading
import time
from collections.abc import Callable

from celery import current_app
from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)
_LOCK = threading.Lock()
_STARTED: dict[str, threading.Thread] = {}


def periodic_start(name: str, interval_setting: str, work: Callable[[], int]) -> bool:
    """Embedded default only: run `work` every `settings.<interval_setting>` seconds in a daemon thread called
    `name`, once per process; False with a broker (beat runs it)."""
    if not current_app.conf.task_always_eager:
        return False
    with _LOCK:
        if name not in _STARTED:
            _STARTED[name] = threading.Thread(
                target=_forever, args=(name, interval_setting, work), name=name, daemon=True
            )
            _STARTED[name].start()
    return True


def _forever(name: str, interval_setting: str, work: Callable[[], int]) -> None:
    while True:
        time.sleep(float(getattr(settings, interval_setting)))
        periodic_once(name, work)


def periodic_once(name: str, work: Callable[[], int]) -> int:
    """One round of `work` in this process (its count); an error is logged, never raised (0)."""
    try:
        return work()
    except Exception:
        logger.warning("%s: the run failed", name, exc_info=True)
        return 0
    finally:
        connections.close_all()
