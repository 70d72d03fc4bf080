"""The Celery application: broker from REDIS_URL, eager when no broker is configured.

Like WSGI, a worker or beat started without DJANGO_SETTINGS_MODULE runs production settings and refuses to
start on unsafe values; only manage.py defaults to the embedded settings, and it sets them before this runs.
"""

import os
import sys
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

app = Celery("stratify")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
@signals.beat_init.connect
def refuse_unsafe_production(**kwargs: Any) -> None:
    """Run the system checks before a worker or beat starts, as WSGI does, and exit on any error."""
    import django
    from django.core.exceptions import ImproperlyConfigured

    django.setup()
    from config.checks import refuse_to_start_on_errors

    try:
        refuse_to_start_on_errors()
    except ImproperlyConfigured as exc:
        stream = sys.__stderr__ or sys.stderr  # beat has redirected sys.stderr to its logger by now
        stream.write(f"{exc}\n")
        raise SystemExit(1) from exc


@signals.worker_ready.connect
def heartbeat_begin(sender: Any = None, **kwargs: Any) -> None:
    """Announce this worker in Redis until it stops (config.worker_heartbeat; /readyz counts the live ones)."""
    from config.worker_heartbeat import broker_redis_url, heartbeat_start

    url = broker_redis_url(app)
    if url and sender is not None:
        heartbeat_start(url, str(sender.hostname))


@signals.worker_shutdown.connect
def heartbeat_end(sender: Any = None, **kwargs: Any) -> None:
    """A warm shutdown: this worker stops counting at once."""
    from config.worker_heartbeat import broker_redis_url, heartbeat_forget

    url = broker_redis_url(app)
    if url and sender is not None:
        heartbeat_forget(url, str(sender.hostname))
