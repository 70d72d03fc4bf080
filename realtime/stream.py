"""The Redis Stream every vitals event goes through (at-least-once, consumer group `rescore`)."""

from collections.abc import Sequence

import orjson
import redis
from django.conf import settings

from realtime.events import VitalEvent

STREAM = "stratify:vitals"
GROUP = "rescore"


def stream_client() -> redis.Redis:
    """A client of the Redis that carries the stream (REDIS_URL; the real-time door needs one)."""
    return redis.Redis.from_url(settings.REDIS_URL)


def publish(events: Sequence[VitalEvent]) -> list[str]:
    """Append the events to the stream in one round trip; their stream ids, in order."""
    pipe = stream_client().pipeline(transaction=False)
    for event in events:
        pipe.xadd(STREAM, {"event": event.model_dump_json()})
    return [i.decode() for i in pipe.execute()]


def publish_refresh(registration_id: int, patient: str) -> str:
    """Tell the consumers that a patient's context changed at the EHR (an Encounter was created or updated): the
    message's single field `refresh` holds {registration_id, patient}; the consumer drops that patient's state."""
    body = orjson.dumps({"registration_id": registration_id, "patient": patient})
    stream_id = stream_client().xadd(STREAM, {"refresh": body})
    return stream_id.decode() if isinstance(stream_id, bytes) else str(stream_id)
