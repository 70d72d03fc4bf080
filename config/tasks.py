"""Project-level Celery tasks: a ping that proves a worker reaches the broker and the database; housekeeping;
the daily model monitoring run."""

import socket
from typing import Any

from celery import shared_task
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection

from scoring.monitoring.evaluation import models_evaluate
from scoring.monitoring.record import served_purge
from scoring.monitoring.services import models_monitor
from smart_launch.retention import purge_expired


@shared_task(name="stratify.ping")
def ping(token: str) -> dict[str, Any]:
    """Echo the token with the worker's host and what it sees in the database."""
    return {
        "token": token,
        "worker": socket.gethostname(),
        "database": connection.vendor,
        "database_name": connection.settings_dict["NAME"],
        "users": get_user_model().objects.count(),
    }


@shared_task(name="stratify.smart_cleanup")
def smart_cleanup() -> dict[str, Any]:
    """Hourly (CELERY_BEAT_SCHEDULE): purge expired SMART launch data; the sandbox's tokens too, if installed."""
    counts: dict[str, Any] = dict(purge_expired())
    # django-oauth-toolkit is the sandbox's authorization server only (demo/dev); it logs its own counts.
    counts["oauth2_provider_cleared"] = apps.is_installed("oauth2_provider")
    if counts["oauth2_provider_cleared"]:
        from oauth2_provider.models import clear_expired

        clear_expired()
    if apps.is_installed("sandbox_ehr.auth"):  # the sandbox authorization server's own tokens, codes, jtis
        from sandbox_ehr.auth.services import expired_purge

        counts.update(expired_purge())
    return counts


@shared_task(name="stratify.monitor_models")
def monitor_models() -> dict[str, Any]:
    """Daily (CELERY_BEAT_SCHEDULE): drift and performance runs of every serving ML version, then the
    served-inference purge."""
    runs = models_monitor()
    performance = models_evaluate()
    return {
        "runs": {f"{r.model_name} {r.model_version}": r.verdict for r in runs},
        "performance": {f"{r.model_name} {r.model_version}": r.verdict for r in performance},
        "purged": served_purge(),
    }
