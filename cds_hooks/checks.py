"""System checks of cds_hooks: production needs a jti replay store shared by every process."""

from typing import Any

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security)
def jti_store_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """In production the replay store is Redis (the cache) or a PostgreSQL table, never per-process memory."""
    if not getattr(settings, "STRATIFY_PRODUCTION", False):
        return []
    store = settings.CDS_JTI_STORE
    shared_cache = settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    shared_db = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    if (store == "cache" and shared_cache) or (store == "database" and shared_db):
        return []
    return [
        checks.Error(
            f"The CDS JWT replay store ({store}) is not shared by every process: a replayed token could be "
            "accepted by another worker.",
            hint="Set REDIS_URL (the store is then Redis), or use PostgreSQL (DATABASE_URL) with "
            "CDS_JTI_STORE=database.",
            id="stratify.E020",
        )
    ]
