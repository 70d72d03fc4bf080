"""Real-time door storage: device sources, the device vitals they send, and what each rescore covered.

Where device vitals live: in our own time-series table (`DeviceVital`), not written to the EHR as
Observations with the Device as performer. The EHR's chart is the clinicians' record and is not ours to
clutter: a wearable's or a monitor's raw stream (every few seconds, unvalidated) would bury the charted
vitals nurses validate, and an EHR's device integration, not a risk score, decides what enters the chart.
Our table keeps exactly what the product needs (the recent window the models read, deduplicated by
(source, source event id)), is read when a patient's online state is built (`realtime.state`), and is
purged after REALTIME_RETENTION_DAYS (`realtime.retention`). The CDS and sidebar doors read the EHR only, so
their scores do not include device vitals the EHR never charted; the real-time score says so in its sources.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from realtime.events import VitalEvent
from realtime.subscription_models import EhrSubscription
from smart_launch.models import EhrRegistration

__all__ = ["DeviceSource", "DeviceVital", "EhrSubscription", "Rescore", "RescoredEvent"]


class DeviceSource(models.Model):
    """A registered sender of device vitals (a monitor gateway, a wearable platform), bound to one EHR.

    It authenticates as SMART Backend Services clients do: each request carries a JWT it signs with a key
    whose public part is here (inline JWKS) or at its JWKS URL; `iss` and `sub` are `name`, and `name` is
    also the `source` of every event it sends (realtime.auth).
    """

    name = models.SlugField("name (JWT iss/sub, events' source)", max_length=200, unique=True)
    registration = models.ForeignKey(
        EhrRegistration,
        on_delete=models.PROTECT,
        related_name="device_sources",
        help_text="The EHR whose patients this source's events name.",
    )
    jwks_url = models.URLField("JWKS URL", max_length=500, blank=True)
    jwks = models.JSONField("JWKS (inline)", null=True, blank=True, help_text="Public keys, when there is no URL.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Exactly one key source, as for trusted CDS clients."""
        if bool(self.jwks_url) == bool(self.jwks):
            raise ValidationError("Give either a JWKS URL or an inline JWKS, not both or neither.")
        if self.jwks and not (isinstance(self.jwks, dict) and self.jwks.get("keys")):
            raise ValidationError({"jwks": "A JWKS is an object with a non-empty `keys` array."})


class DeviceVital(models.Model):
    """One device measurement as received (the canonical VitalEvent envelope), stored once per source event id."""

    source = models.ForeignKey(DeviceSource, on_delete=models.PROTECT, related_name="vitals")
    source_event_id = models.CharField(max_length=200)
    device_id = models.CharField(max_length=200, blank=True)
    registration = models.ForeignKey(EhrRegistration, on_delete=models.PROTECT, related_name="+")
    patient = models.CharField(max_length=80)  # "Patient/<id>" on the registration's FHIR server
    event_time = models.DateTimeField()
    code = models.CharField(max_length=10)  # LOINC
    value = models.FloatField()
    unit = models.CharField(max_length=40)  # UCUM
    received_at = models.DateTimeField(default=timezone.now)
    batch = models.UUIDField()  # the request that brought it
    streamed = models.BooleanField(default=False)  # published to the stream (else the outbox relay does it)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "source_event_id"], name="realtime_vital_source_event_unique")
        ]
        indexes = [
            models.Index(fields=["registration", "patient", "event_time"], name="realtime_vital_patient_time"),
            models.Index(fields=["received_at"], name="realtime_vital_unstreamed", condition=models.Q(streamed=False)),
            models.Index(fields=["received_at"], name="realtime_vital_received"),  # the retention purge
        ]

    def __str__(self) -> str:
        return f"{self.source_id}:{self.source_event_id}"

    def as_event(self) -> VitalEvent:
        """The stored vital as the canonical envelope (its source loaded with it: `select_related("source")`)."""
        return VitalEvent(
            source=self.source.name,
            source_event_id=self.source_event_id,
            device_id=self.device_id or None,
            registration_id=self.registration_id,
            patient=self.patient,
            event_time=self.event_time,
            code=self.code,
            value=self.value,
            unit=self.unit,
        )


class Rescore(models.Model):
    """One rescoring of one patient from their online state: the served results and how many events it took in."""

    registration = models.ForeignKey(EhrRegistration, on_delete=models.PROTECT, related_name="+")
    patient = models.CharField(max_length=80)
    unit = models.CharField(max_length=200, blank=True)
    as_of = models.DateTimeField()
    scored_at = models.DateTimeField(default=timezone.now, db_index=True)
    scoring_ms = models.FloatField(default=0.0)  # wall time of scoring every model, before the commit
    results = models.JSONField(default=list)  # per model: name, version, status, scored, band, value, digest
    events = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["registration", "patient", "scored_at"], name="realtime_rescore_patient")]

    def __str__(self) -> str:
        return f"{self.patient} at {self.as_of:%Y-%m-%d %H:%M:%S}"


class RescoredEvent(models.Model):
    """The event (source, source event id) a rescore took in: at most one, so a redelivered event is not rescored."""

    rescore = models.ForeignKey(Rescore, on_delete=models.CASCADE, related_name="covered")
    source = models.CharField(max_length=200)
    source_event_id = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "source_event_id"], name="realtime_rescored_event_unique")
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.source_event_id}"
