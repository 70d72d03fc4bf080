"""Real PostgreSQL, Redis and a Celery worker reached through Redis."""

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection


@pytest.mark.integration
@pytest.mark.django_db
class StoreTests:
    def test_database_is_postgresql(self) -> None:
        assert connection.vendor == "postgresql"

    def test_cache_is_redis(self) -> None:
        key = f"probe-{uuid.uuid4()}"
        cache.set(key, {"a": 1}, timeout=30)
        assert cache.get(key) == {"a": 1}
        import redis
        from django.conf import settings

        raw = redis.Redis.from_url(settings.REDIS_URL)
        assert any(key in (k.decode() if isinstance(k, bytes) else k) for k in raw.keys("*probe-*"))


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_celery_task_travels_through_redis_to_a_worker(celery_worker_process: object) -> None:
    from config.tasks import ping

    get_user_model().objects.create_user("worker-sees-me")
    token = uuid.uuid4().hex
    result = ping.delay(token).get(timeout=60)
    assert result["token"] == token
    assert result["database"] == "postgresql"
    assert result["database_name"] == connection.settings_dict["NAME"]
    assert result["users"] == 1
