"""The Redis Stream every vitals event goes through (at-least-once, consumer group `rescore`).

Two kinds of entry: `{"event": <VitalEvent JSON>}` (a measurement to fold into the patient's online state
and rescore) and `{"refresh": <JSON {"registration_id": int, "patient": "Patient/<id>"}>}` (the patient's
context changed in the EHR, e.g. an Encounter moved them: their online state is dropped and rebuilt from the
EHR at their next event). `realtime.consumer` reads both.
"""

from collections.abc import Sequence
from typing import Any

import orjson
import redis
from django.conf import settings
from redis.client import Pipeline

from realtime.events import VitalEvent

STREAM = "stratify:vitals"
GROUP = "rescore"
DEAD_LETTER = "stratify:vitals:dead"  # entries no consumer could process (`realtime.consumer`)


def stream_client() -> redis.Redis:
    """A client of the Redis that carries the stream (REALTIME_REDIS_URL; the real-time door needs one)."""
    return redis.Redis.from_url(settings.REALTIME_REDIS_URL)


def publish(events: Sequence[VitalEvent]) -> list[str]:
    """Append the events to the stream in one round trip; their stream ids, in order."""
    pipe = stream_client().pipeline(transaction=False)
    for event in events:
        stream_add(pipe, STREAM, {"event": event.model_dump_json()})
    return [i.decode() for i in pipe.execute()]


def stream_add(client: redis.Redis | Pipeline, stream: str, fields: dict[Any, Any]) -> Any:
    """XADD capped at about REALTIME_STREAM_MAXLEN entries (MAXLEN ~): Redis memory stays bounded when no
    consumer reads for long. Consumers trim what they acknowledged long before the cap; only a backlog past it
    (about 8 minutes at 200 events/s with the default) loses its oldest entries, which the consumers warn of."""
    return client.xadd(stream, fields, maxlen=settings.REALTIME_STREAM_MAXLEN, approximate=True)


def publish_refresh(registration_id: int, patient: str) -> str:
    """Ask the consumers to drop `patient`'s online state (rebuilt from the EHR at their next event); stream id."""
    payload = orjson.dumps({"registration_id": registration_id, "patient": patient})
    entry_id = stream_add(stream_client(), STREAM, {"refresh": payload})
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
