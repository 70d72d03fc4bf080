"""ORM models of realtime (each concept in its own module)."""

from realtime.subscription_models import EhrSubscription

__all__ = ["EhrSubscription"]
