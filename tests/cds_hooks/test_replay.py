"""The jti replay store is shared by every process, in both modes (Redis cache; the database without Redis)."""

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from audit.models import AuditRecord
from cds_hooks.models import IssuedCard, TrustedCdsClient, UsedJti
from cds_hooks.replay import used_jti_purge
from tests.cds_hooks.conftest import CLIENT_ISS, TokenFactory, physionet_stay_resources

pytestmark = [pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[2]
PATH = "/cds-services/stratify-sepsis/feedback"
FEEDBACK = {
    "feedback": [{"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2025-01-01T00:00:00Z"}]
}


def _post(token: str) -> Any:
    return Client().post(
        PATH, data=orjson.dumps(FEEDBACK), content_type="application/json", headers={"Authorization": f"Bearer {token}"}
    )


def _use_in_another_process(jti: str, exp: int, store: str) -> None:
    """Another Stratify process (a second worker) accepts the token first."""
    settings_dict = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "CDS_JTI_STORE": store,
        "DATABASE_URL": f"postgres://{settings_dict['USER'] or 'postgres'}@{settings_dict['HOST']}:"
        f"{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}",
    }
    code = (
        "import django; django.setup(); from cds_hooks.replay import jti_first_use; "
        f"assert jti_first_use(iss={CLIENT_ISS!r}, jti={jti!r}, exp={exp})"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=120)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("store", ["database", "cache"])
def test_a_token_used_by_another_process_is_a_replay_here(
    store: str, settings: Any, trusted_client: TrustedCdsClient, make_token: TokenFactory
) -> None:
    settings.CDS_JTI_STORE = store
    jti, exp = str(uuid.uuid4()), int(time.time()) + 300
    _use_in_another_process(jti, exp, store)
    response = _post(make_token(PATH, jti=jti, exp=exp))
    assert response.status_code == 401
    record = AuditRecord.objects.filter(action="cds_auth_failure").latest("id")
    assert record.detail["reason"] == "replayed jti"


@pytest.mark.django_db
def test_database_store_keeps_each_jti_until_the_token_expires(
    settings: Any, trusted_client: TrustedCdsClient, make_token: TokenFactory
) -> None:
    """Without Redis the store was per-process memory with eviction; now a table, so 500 other calls in
    between change nothing."""
    settings.CDS_JTI_STORE = "database"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "OPTIONS": {"MAX_ENTRIES": 10}}
    }
    first = make_token(PATH)
    assert _post(first).status_code == 404  # accepted (the card is unknown)
    for _ in range(30):  # more accepted tokens than a small per-process cache would keep
        assert _post(make_token(PATH)).status_code == 404
    assert _post(first).status_code == 401
    row = UsedJti.objects.order_by("expires_at").first()
    assert row is not None and row.expires_at > timezone.now() + timedelta(seconds=200)


@pytest.mark.django_db
def test_expired_rows_are_purged() -> None:
    now = timezone.now()
    UsedJti.objects.create(digest="a" * 64, expires_at=now - timedelta(seconds=1))
    UsedJti.objects.create(digest="b" * 64, expires_at=now + timedelta(seconds=60))
    assert used_jti_purge(now=now) == 1
    assert list(UsedJti.objects.values_list("digest", flat=True)) == ["b" * 64]


SERVICE_PATH = "/cds-services/stratify-sepsis"


def _service_body(**context: Any) -> bytes:
    resources = physionet_stay_resources()
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    observations = [r for r in resources if r["resourceType"] == "Observation"]
    encounters = [r for r in resources if r["resourceType"] == "Encounter"]
    bundle = lambda found: {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in found]}  # noqa: E731
    return orjson.dumps(
        {
            "hook": "patient-view",
            "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/1", "patientId": patient["id"], **context},
            "prefetch": {
                "patient": patient,
                "vitals": bundle(observations),
                "labs": None,
                "encounters": bundle(encounters),
            },
        }
    )


def _call(token: str, body: bytes) -> Any:
    return Client().post(
        SERVICE_PATH, data=body, content_type="application/json", headers={"Authorization": f"Bearer {token}"}
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("models_installed")
class DeferredClaimTests:
    """The database store: a service call claims its jti in the transaction that records it."""

    def test_a_replayed_service_call_is_refused_and_records_nothing(
        self, settings: Any, trusted_client: TrustedCdsClient, make_token: TokenFactory
    ) -> None:
        settings.CDS_JTI_STORE = "database"
        token = make_token(SERVICE_PATH)
        first = _call(token, _service_body())
        assert first.status_code == 200, first.content
        assert first.json()["cards"] and UsedJti.objects.count() == 1
        cards = IssuedCard.objects.count()
        again = _call(token, _service_body())  # the same token, another hookInstance
        assert again.status_code == 401
        assert IssuedCard.objects.count() == cards  # its recording transaction was rolled back whole
        assert UsedJti.objects.count() == 1
        record = AuditRecord.objects.filter(action="cds_auth_failure").latest("id")
        assert record.detail["reason"] == "replayed jti" and record.actor == f"cds:{CLIENT_ISS}"

    def test_a_token_first_used_by_another_process_is_refused_at_the_service(
        self, settings: Any, trusted_client: TrustedCdsClient, make_token: TokenFactory
    ) -> None:
        settings.CDS_JTI_STORE = "database"
        jti, exp = str(uuid.uuid4()), int(time.time()) + 300
        _use_in_another_process(jti, exp, "database")
        cards = IssuedCard.objects.count()
        assert _call(make_token(SERVICE_PATH, jti=jti, exp=exp), _service_body()).status_code == 401
        assert IssuedCard.objects.count() == cards

    def test_a_call_that_ended_in_an_error_uses_its_token_up(
        self, settings: Any, trusted_client: TrustedCdsClient, make_token: TokenFactory
    ) -> None:
        settings.CDS_JTI_STORE = "database"
        token = make_token(SERVICE_PATH)
        malformed = _call(token, orjson.dumps({"hook": "patient-view", "hookInstance": "x", "context": {}}))
        assert malformed.status_code == 400
        assert UsedJti.objects.count() == 1
        assert _call(token, _service_body()).status_code == 401

    def test_with_redis_the_jti_is_claimed_before_the_call(
        self, settings: Any, trusted_client: TrustedCdsClient, make_token: TokenFactory
    ) -> None:
        settings.CDS_JTI_STORE = "cache"
        token = make_token(SERVICE_PATH)
        assert _call(token, _service_body()).status_code == 200
        assert UsedJti.objects.count() == 0
        assert _call(token, _service_body()).status_code == 401
