"""Fixtures of real-time tests: a device source with its signing key, signed requests, the stream, listeners;
the sandbox EHR on the live server, our registration with it, a clean stream."""

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from django.core.management import call_command
from joserfc import jwt
from joserfc.jwk import ECKey

from realtime.auth import device_sources_forget
from realtime.events import VitalEvent
from realtime.models import DeviceSource
from realtime.stream import STREAM, stream_client
from sandbox_ehr.fhir.subscription_delivery import dispatcher_stop
from smart_launch.models import EhrRegistration

PATH = "/realtime/v1/events"
LISTENER = "tests.realtime.listeners.capture"


@pytest.fixture
def device_key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "monitor-1", "alg": "ES256"})


@pytest.fixture
def registration() -> EhrRegistration:
    return EhrRegistration.objects.create(name="Ward EHR", iss="https://ehr.example.org/fhir", client_id="stratify")


@pytest.fixture
def source(registration: EhrRegistration, device_key: ECKey) -> Iterator[DeviceSource]:
    device_sources_forget()
    yield DeviceSource.objects.create(
        name="icu-monitors", registration=registration, jwks={"keys": [device_key.as_dict(private=False)]}
    )
    device_sources_forget()


def device_jwt(key: ECKey, aud: str, **overrides: Any) -> str:
    """A Backend Services-style assertion of the source `icu-monitors` for `aud`."""
    now = int(time.time())
    claims = {"iss": "icu-monitors", "sub": "icu-monitors", "aud": aud, "exp": now + 240, "jti": uuid.uuid4().hex}
    header = {"alg": "ES256", "typ": "JWT", "kid": key.kid}
    header.update(overrides.pop("header", {}))
    claims.update(overrides)
    return jwt.encode(header, {k: v for k, v in claims.items() if v is not None}, key, algorithms=["ES256"])


@pytest.fixture
def post(client: Any, device_key: ECKey, settings: Any, django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """POST a body to the ingestion API with a fresh signed JWT (or the given Authorization header); what the
    request leaves for after its commit (streaming) runs before this returns."""

    def send(body: Any, *, authorization: str | None = None) -> Any:
        auth = (
            authorization
            if authorization is not None
            else f"Bearer {device_jwt(device_key, settings.PUBLIC_BASE_URL + PATH)}"
        )
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(PATH, body, content_type="application/json", HTTP_AUTHORIZATION=auth)

    return send


def vital(registration: int, number: int, /, *, minutes_ago: float = 5, **fields: Any) -> dict[str, Any]:
    """One device heart-rate event (synthetic) of Patient/p1, `minutes_ago` before now."""
    when = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    event = {
        "source": "icu-monitors",
        "source_event_id": f"hr-{number}",
        "device_id": "bed-4",
        "registration_id": registration,
        "patient": "Patient/p1",
        "event_time": when.isoformat(),
        "code": "8867-4",
        "value": 80 + number,
        "unit": "/min",
    }
    event.update(fields)
    return event


@pytest.fixture
def captured(settings: Any) -> Iterator[list[dict[str, Any]]]:
    """The calls the score listeners receive (REALTIME_SCORE_LISTENERS = this test package's listener)."""
    from tests.realtime import listeners

    settings.REALTIME_SCORE_LISTENERS = [LISTENER]
    listeners.CALLS.clear()
    yield listeners.CALLS
    listeners.CALLS.clear()


@pytest.fixture
def stream() -> Iterator[Callable[[], list[VitalEvent | dict[str, Any]]]]:
    """The stream's messages in order (VitalEvents, and refresh bodies as dicts), from an empty stream."""
    client = stream_client()
    client.flushdb()  # this run's own Redis database (REALTIME_REDIS_URL, REDIS_URL's by default)

    def read() -> list[VitalEvent | dict[str, Any]]:
        out: list[VitalEvent | dict[str, Any]] = []
        messages: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(STREAM)  # type: ignore[assignment]
        for _id, fields in messages:
            if b"event" in fields:
                out.append(VitalEvent.model_validate_json(fields[b"event"]))
            else:
                out.append(orjson.loads(fields[b"refresh"]))
        return out

    yield read
    client.flushdb()


@pytest.fixture
def ehr(live_server: Any, settings: Any) -> Iterator[EhrRegistration]:
    """The sandbox EHR served over HTTP (its subscriptions deliver to the same live server), registered with us."""
    settings.PUBLIC_BASE_URL = live_server.url
    for command in ("sandbox_setup", "smart_demo_setup"):
        call_command(command, verbosity=0)
    try:
        yield EhrRegistration.objects.get(iss=f"{live_server.url}/sandbox/fhir")
    finally:
        dispatcher_stop()


def wait_for(condition: Callable[[], Any], seconds: float = 15.0) -> Any:
    """Poll until `condition()` is truthy (the sandbox delivers from its own thread); its value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s: {condition}")


GROWING_TABLES = (  # tables that grow with traffic: every read of them must be answerable from an index
    "realtime_devicevital",
    "realtime_rescore",
    "realtime_rescoredevent",
    "alerts_alert",
    "alerts_monitoredpatientday",
    "fhirapp_auditrecord",
    "scoring_servedinference",
)


def table_scans(queries: list[dict[str, str]], tables: tuple[str, ...] = GROWING_TABLES) -> list[str]:
    """The plans (EXPLAIN, sequential scans disabled, so only a query no index can answer keeps one) of the
    captured queries other than inserts that scan one of `tables` whole."""
    from django.db import connection, transaction

    plans = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for query in queries:
            if query["sql"].lstrip().upper().startswith("INSERT") or not any(f'"{t}"' in query["sql"] for t in tables):
                continue
            cursor.execute(f"EXPLAIN {query['sql']}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
            if any(f"Seq Scan on {t}" in plan for t in tables):
                plans.append(f"{query['sql']}\n{plan}")
    return plans
