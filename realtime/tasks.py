"""Celery tasks of realtime (Celery's autodiscovery imports this module; each concept keeps its own)."""

from realtime.retention_tasks import realtime_purge_task
from realtime.subscription_tasks import subscription_recover_task, subscriptions_check_task

__all__ = ["realtime_purge_task", "subscription_recover_task", "subscriptions_check_task"]
