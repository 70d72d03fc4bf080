"""ORM model of our FHIR Subscriptions at EHRs (Subscriptions R5 Backport IG for R4): one row per (EHR, topic)."""

from django.db import models

from smart_launch.models import EhrRegistration


class EhrSubscription(models.Model):
    """A Subscription we hold at an EHR: its id there, the hash of its channel secret, and the event count
    we have processed without a gap (`events_through`, the IG's eventsSinceSubscriptionStart)."""

    class Status(models.TextChoices):
        REQUESTED = "requested"  # written at the EHR, handshake not yet received
        ACTIVE = "active"
        ERROR = "error"  # the EHR says so, or we could not (re)register it
        OFF = "off"

    class Content(models.TextChoices):
        ID_ONLY = "id-only"
        FULL_RESOURCE = "full-resource"

    registration = models.ForeignKey(EhrRegistration, on_delete=models.CASCADE, related_name="subscriptions")
    topic = models.URLField(max_length=500, help_text="The topic's canonical URL (Subscription.criteria).")
    resource_type = models.CharField(max_length=64, help_text="What the topic's events are (re-queried after a gap).")
    content = models.CharField(max_length=16, choices=Content.choices, default=Content.ID_ONLY)
    patient_filter = models.CharField(max_length=64, blank=True, default="", help_text="One patient id, or all.")
    heartbeat_seconds = models.PositiveIntegerField(default=60)
    remote_id = models.CharField(max_length=64, blank=True, default="", help_text="The Subscription's id at the EHR.")
    secret_hash = models.CharField(max_length=64, blank=True, default="", help_text="SHA-256 of the channel secret.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    events_through = models.BigIntegerField(default=0, help_text="Events 1..N processed (or recovered), no gap.")
    events_through_at = models.DateTimeField(null=True, blank=True, help_text="The EHR's time of event N.")
    last_contact_at = models.DateTimeField(null=True, blank=True, help_text="Last notification or $status.")
    handshake_at = models.DateTimeField(null=True, blank=True)
    gaps_detected = models.PositiveIntegerField(default=0)
    missed_heartbeats = models.PositiveIntegerField(default=0)
    recoveries = models.PositiveIntegerField(default=0)
    reactivations = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["registration", "topic", "patient_filter"], name="realtime_subscription_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.topic.rsplit('/', 1)[-1]} at {self.registration.name} ({self.status})"

    @property
    def source(self) -> str:
        """The `VitalEvent.source` of what this registration's subscriptions bring (stable across re-registration)."""
        return f"ehr-subscription:{self.registration_id}"
