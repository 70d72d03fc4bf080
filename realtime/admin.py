"""Admin of realtime (each concept registers its own)."""

from realtime import subscription_admin

__all__ = ["subscription_admin"]
