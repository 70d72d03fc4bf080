"""Fixtures of the real-time door: the sandbox EHR on the live server, our registration with it, a clean stream."""

import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from django.core.management import call_command

from realtime.events import VitalEvent
from realtime.stream import STREAM, stream_client
from sandbox_ehr.fhir.subscription_delivery import dispatcher_stop
from smart_launch.models import EhrRegistration


@pytest.fixture
def stream() -> Iterator[Callable[[], list[VitalEvent | dict[str, Any]]]]:
    """The stream's messages in order (VitalEvents, and refresh bodies as dicts), from an empty stream."""
    client = stream_client()
    client.flushdb()  # this run's own Redis database (REDIS_URL): the stream and the redelivery marks

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
