"""The canonical envelope of one vitals event, whatever door it came in by (device API or EHR subscription)."""

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class VitalEvent(BaseModel):
    """One measurement of one patient at one time, as the stream carries it (schema version 1).

    `source` names who sent it (a registered device source, or an EHR registration's subscription) and
    `source_event_id` is that sender's own id for it: together they are the event's identity, so a
    redelivered or resent event is recognised. `event_time` is when it was measured, not when it arrived.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    schema_version: Literal["1"] = "1"
    source: str = Field(min_length=1, max_length=200)
    source_event_id: str = Field(min_length=1, max_length=200)
    device_id: str | None = Field(default=None, max_length=200)
    registration_id: int  # the EHR registration the patient reference belongs to
    patient: str = Field(pattern=r"^Patient/[A-Za-z0-9\-.]{1,64}$")
    event_time: AwareDatetime
    code: str = Field(pattern=r"^[0-9]{1,7}-[0-9]$")  # LOINC
    value: float
    unit: str = Field(min_length=1, max_length=40)  # UCUM
