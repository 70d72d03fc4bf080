"""ORM models of alerts: policies per model and unit (with history), alerts, their notifications and outcomes, and
the monitor findings told through the same channels."""

from django.db import models

from audit.models import ChangeRecord

BAND_RANK = {"low": 0, "moderate": 1, "high": 2}  # the order of scoring's bands (scoring.types.Band)


class AlertPolicy(models.Model):
    """When a model's score alerts on a unit, how long an alert waits for a clinician, and who is told.

    The bands themselves come from the model version's threshold policy (scoring); this only says from
    which band on a result alerts. `unit` "" is the model's default for units without a policy of their own.
    """

    class MinBand(models.TextChoices):
        MODERATE = "moderate", "Moderate and high"
        HIGH = "high", "High only"

    model_name = models.CharField(max_length=64)
    unit = models.CharField(max_length=200, blank=True, default="", help_text='Unit ("" = every other unit).')
    enabled = models.BooleanField(default=True, help_text="Off: this model never alerts on this unit.")
    min_band = models.CharField(max_length=10, choices=MinBand.choices, default=MinBand.HIGH)
    escalate_after_minutes = models.PositiveIntegerField(
        default=30, help_text="Unacknowledged this long: escalated (notified again, to the escalation list); 0 = never."
    )
    expire_after_minutes = models.PositiveIntegerField(
        default=240, help_text="Unacknowledged this long: expired (closed unseen, counted as such)."
    )
    realert_minutes = models.PositiveIntegerField(
        default=240,
        help_text="After an alert, no new one for the same patient and model in the same band for this long.",
    )
    max_snooze_minutes = models.PositiveIntegerField(default=120, help_text="The longest snooze a clinician may set.")
    resolve_when_band_falls = models.BooleanField(
        default=True, help_text="Resolve an open alert when a new score is below the alerting band."
    )
    notify_webhook = models.BooleanField(default=False, help_text="POST to ALERTS_WEBHOOK_URL (signed).")
    email_to = models.CharField(max_length=1000, blank=True, help_text="Comma-separated addresses told of new alerts.")
    escalation_email_to = models.CharField(
        max_length=1000, blank=True, help_text="Comma-separated addresses told of escalations."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "alert policies"
        constraints = [models.UniqueConstraint(fields=["model_name", "unit"], name="alert_policy_per_model_unit")]

    def __str__(self) -> str:
        return f"alert policy of {self.model_name} on {self.unit or 'every unit'}"


class AlertPolicyChange(ChangeRecord):
    """History of alert policy edits: who, when, why, before and after (append-only)."""

    policy = models.ForeignKey(AlertPolicy, on_delete=models.CASCADE, related_name="changes")

    def __str__(self) -> str:
        return f"{self.policy} change {self.changed_at:%Y-%m-%d %H:%M}"


class Alert(models.Model):
    """One alert of a model for a patient of one EHR registration, from creation to its close.

    created -> delivered (a channel took it) -> acknowledged -> resolved; unacknowledged it is escalated and
    then expired at the policy's times; snoozed by a clinician it waits (with the reason) and comes back.
    """

    class Status(models.TextChoices):
        CREATED = "created"
        DELIVERED = "delivered"
        ESCALATED = "escalated"
        SNOOZED = "snoozed"
        ACKNOWLEDGED = "acknowledged"
        RESOLVED = "resolved"
        EXPIRED = "expired"

    OPEN = (Status.CREATED, Status.DELIVERED, Status.ESCALATED, Status.SNOOZED, Status.ACKNOWLEDGED)
    AWAITING_ACK = (Status.CREATED, Status.DELIVERED, Status.ESCALATED)

    registration_id = models.BigIntegerField(db_index=True)  # smart_launch.EhrRegistration
    patient_pseudonym = models.CharField(max_length=64)
    patient_ref_encrypted = models.TextField()
    unit = models.CharField(max_length=200, blank=True, db_index=True)
    model_name = models.CharField(max_length=64)
    model_version = models.CharField(max_length=64)
    title = models.CharField(max_length=200)
    band = models.CharField(max_length=10)
    indicator = models.CharField(max_length=10)
    score_text = models.CharField(max_length=40)  # "34%", "7 points" (scoring.presentation.value_text)
    probability = models.FloatField(null=True, blank=True)
    points = models.FloatField(null=True, blank=True)
    summary = models.CharField(max_length=300)
    drivers = models.JSONField(default=list)  # [{"text", "label", "direction", "context"}], clinical first
    as_of = models.DateTimeField()
    data_time = models.DateTimeField(null=True, blank=True)  # newest input used
    input_digest = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CREATED, db_index=True)
    supersedes = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=150, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    snooze_reason = models.TextField(blank=True)
    # The escalation and expiry clock starts here: creation, or the end of the last snooze.
    waiting_since = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.CharField(max_length=150, blank=True)
    close_reason = models.TextField(blank=True)
    # The predicted outcome, once known (monitoring calls alerts.services.alert_outcome_record): PPV.
    outcome_occurred = models.BooleanField(null=True, blank=True)
    flag_ref = models.CharField(max_length=200, blank=True)  # the EHR's Flag, when written back

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["registration_id", "patient_pseudonym", "model_name", "-created_at"]),
            models.Index(fields=["model_name", "unit", "created_at"]),
        ]
        constraints = [
            models.UniqueConstraint(  # deduplication, held by the database: one open alert per patient and model
                fields=["registration_id", "patient_pseudonym", "model_name"],
                condition=models.Q(status__in=["created", "delivered", "escalated", "snoozed", "acknowledged"]),
                name="alert_one_open_per_patient_model",
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} {self.band} ({self.unit or 'no unit'}) {self.status}"

    @property
    def is_open(self) -> bool:
        """Not resolved or expired."""
        return self.status in self.OPEN


class FindingNotice(models.Model):
    """A monitor finding of a model version that people are told of (`scoring.monitoring.findings`): one row per
    finding, the run that opened it, so it is told once however often it is announced."""

    class Monitor(models.TextChoices):
        DRIFT = "drift"
        PERFORMANCE = "performance"

    monitor = models.CharField(max_length=12, choices=Monitor.choices)
    run_id = models.BigIntegerField(help_text="the DriftRun or PerformanceRun that opened the finding")
    model_name = models.CharField(max_length=64)
    model_version = models.CharField(max_length=64)
    opened_at = models.DateTimeField()
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    what = models.JSONField(default=list, blank=True, help_text="what was found, in words")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["monitor", "run_id"], name="finding_notice_once_per_run")]

    def __str__(self) -> str:
        return f"{self.monitor} finding of {self.model_name} {self.model_version} ({self.opened_at:%Y-%m-%d})"


class Notification(models.Model):
    """One message on one channel about an alert or a monitor finding (exactly one of them), with its tries;
    dead-lettered when they run out."""

    class Channel(models.TextChoices):
        INBOX = "inbox"
        WEBHOOK = "webhook"
        EMAIL = "email"

    class Purpose(models.TextChoices):
        NEW = "new"
        ESCALATION = "escalation"
        REMINDER = "reminder"  # a snooze ended
        CLOSED = "closed"  # resolved or expired: a pager can stop
        FINDING = "finding"  # a monitor opened a finding (no alert: `finding` is set)

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        DEAD = "dead"

    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications")
    finding = models.ForeignKey(
        FindingNotice, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    channel = models.CharField(max_length=20, choices=Channel.choices)
    purpose = models.CharField(max_length=20, choices=Purpose.choices, default=Purpose.NEW)
    recipients = models.CharField(max_length=1000, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(alert__isnull=False, finding__isnull=True)
                | models.Q(alert__isnull=True, finding__isnull=False),
                name="notification_of_an_alert_or_a_finding",
            )
        ]

    def __str__(self) -> str:
        about = f"alert {self.alert_id}" if self.alert_id else f"finding {self.finding_id}"
        return f"{self.channel} {self.purpose} of {about} {self.status}"


class DeadLetter(Notification):
    """Admin view of the notifications whose tries ran out (proxy)."""

    class Meta:
        proxy = True
        verbose_name = "dead-lettered notification"


class MonitoredPatientDay(models.Model):
    """A patient scored by a model on a unit on a day: the denominator of alerts per patient-day."""

    registration_id = models.BigIntegerField()
    patient_pseudonym = models.CharField(max_length=64)
    model_name = models.CharField(max_length=64)
    unit = models.CharField(max_length=200, blank=True)
    day = models.DateField()

    class Meta:
        indexes = [models.Index(fields=["model_name", "unit", "day"])]
        constraints = [
            models.UniqueConstraint(
                fields=["registration_id", "patient_pseudonym", "model_name", "unit", "day"],
                name="monitored_patient_day_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_name} {self.unit} {self.day}"
