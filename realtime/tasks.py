"""Celery tasks of realtime (Celery's autodiscovery imports this module; each concept keeps its own)."""

from realtime.subscription_tasks import subscription_recover_task, subscriptions_check_task

__all__ = ["subscription_recover_task", "subscriptions_check_task"]
