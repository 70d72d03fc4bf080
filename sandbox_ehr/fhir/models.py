"""ORM models of sandbox_ehr.fhir: current resources, superseded versions and search tokens.

The resource JSON is kept as text (`content`, with `id` and `meta.versionId/lastUpdated` already set)
so a search can splice it into a Bundle without parsing or re-validating it; the columns and the
token table carry what search needs, indexed on both SQLite and PostgreSQL.
"""

from django.db import models


class FhirResourceQuerySet(models.QuerySet["FhirResource"]):
    """Current rows, with `live()` for the ones whose current version is not a deletion."""

    def live(self) -> "FhirResourceQuerySet":
        """Rows a read, search, include or patient list may show (not deleted)."""
        return self.filter(deleted=False)


class FhirResource(models.Model):
    """The current version of one stored resource."""

    resource_type = models.CharField(max_length=64)
    resource_id = models.CharField(max_length=64)
    version_id = models.PositiveIntegerField(default=1)
    last_updated = models.DateTimeField()
    content = models.TextField(help_text="The resource as JSON text, meta included.")
    # Search columns (see sandbox_ehr/fhir/indexing.py for what each type puts here).
    patient_id = models.CharField(
        max_length=64, blank=True, default="", help_text="Patient compartment: the Patient id this resource belongs to."
    )
    status = models.CharField(max_length=64, blank=True, default="")
    date_start = models.DateTimeField(null=True, blank=True, help_text="Start of the searchable date range.")
    date_end = models.DateTimeField(null=True, blank=True, help_text="Exclusive end of the date range.")
    deleted = models.BooleanField(default=False, help_text="The current version is a deletion (read answers 410).")

    objects = FhirResourceQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["resource_type", "resource_id"], name="sandbox_fhir_type_id_unique"),
        ]
        indexes = [
            models.Index(fields=["resource_type", "patient_id", "date_start"], name="sandbox_fhir_type_pat_date"),
            models.Index(fields=["resource_type", "date_start"], name="sandbox_fhir_type_date"),
        ]

    def __str__(self) -> str:
        return f"{self.resource_type}/{self.resource_id}/_history/{self.version_id}"


class FhirResourceHistory(models.Model):
    """A superseded version of a resource, kept for vread (the current one lives in FhirResource).

    A version that was a deletion is kept with empty `content` (vread of it answers 410 Gone).
    """

    resource_type = models.CharField(max_length=64)
    resource_id = models.CharField(max_length=64)
    version_id = models.PositiveIntegerField()
    last_updated = models.DateTimeField()
    content = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["resource_type", "resource_id", "version_id"], name="sandbox_fhir_history_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.resource_type}/{self.resource_id}/_history/{self.version_id}"


class FhirToken(models.Model):
    """One searchable token of a resource: code, category, identifier, reference, name part..."""

    resource = models.ForeignKey(FhirResource, on_delete=models.CASCADE, related_name="tokens")
    # The resource's compartment patient, copied so a token filter of a one-patient search reads only
    # that patient's tokens (a filter over every category token of the store grew with the store).
    patient_id = models.CharField(max_length=64, blank=True, default="")
    param = models.CharField(max_length=32)
    system = models.CharField(max_length=255, blank=True, default="")
    code = models.CharField(max_length=255)

    class Meta:
        indexes = [
            models.Index(fields=["param", "code", "system"], name="sandbox_fhir_token_lookup"),
            models.Index(fields=["patient_id", "param", "code"], name="sandbox_fhir_token_patient"),
            # Covers the per-resource EXISTS probe of a token filter (e.g. category) after the patient/date scan.
            models.Index(fields=["resource", "param", "code"], name="sandbox_fhir_token_res_code"),
        ]

    def __str__(self) -> str:
        return f"{self.param}={self.system}|{self.code}"


class BulkExportJob(models.Model):
    """One Bulk Data `$export` request (HL7 FHIR Bulk Data Access 2.0.0) and, once done, its manifest parts.

    The NDJSON files live under SANDBOX_BULK_DIR/<id>/ (one per resource type); `output` lists them.
    """

    class Level(models.TextChoices):
        SYSTEM = "system"
        GROUP = "group"
        PATIENT = "patient"

    class Status(models.TextChoices):
        ACCEPTED = "accepted"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    id = models.UUIDField(primary_key=True)
    client_id = models.CharField(max_length=200)
    level = models.CharField(max_length=16, choices=Level.choices)
    group_id = models.CharField(max_length=64, blank=True, default="")
    types = models.JSONField(default=list, help_text="Resource types to export, in order.")
    since = models.DateTimeField(null=True, blank=True)
    request_url = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACCEPTED)
    progress = models.CharField(max_length=100, blank=True, default="")
    transaction_time = models.DateTimeField()
    output = models.JSONField(default=list, help_text="[{type, count, file}] of the written files.")
    error = models.JSONField(default=list, help_text="[{type, file}] of OperationOutcome NDJSON files.")
    message = models.TextField(blank=True, default="", help_text="Why the export failed.")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"$export {self.level} {self.id} ({self.status})"


class SubscriptionState(models.Model):
    """What the server keeps beside one Subscription resource (Subscriptions R5 Backport IG 1.1.0).

    The resource holds what the client asked for and the status; this row holds the parsed channel, the
    event counter (`eventsSinceSubscriptionStart`), what was delivered, and the delivery lease and failures.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested"
        ACTIVE = "active"
        ERROR = "error"
        OFF = "off"

    resource_id = models.CharField(max_length=64, unique=True)
    topic = models.CharField(max_length=500)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    patient_id = models.CharField(max_length=64, blank=True, default="", help_text="Filter: '' for every patient.")
    endpoint = models.URLField(max_length=1000)
    headers = models.JSONField(default=list, help_text="channel.header lines ('Name: value'), sent with each POST.")
    content = models.CharField(max_length=16, default="id-only")
    heartbeat_seconds = models.PositiveIntegerField(null=True, blank=True)
    timeout_seconds = models.PositiveIntegerField(default=10)
    max_count = models.PositiveIntegerField(default=20)
    events_since_start = models.BigIntegerField(default=0)
    delivered_through = models.BigIntegerField(default=0, help_text="Events up to this number need no delivery.")
    last_sent_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0, help_text="Failed deliveries in a row.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True, help_text="A dispatcher is delivering until then.")
    error = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Subscription/{self.resource_id} ({self.status})"


class SubscriptionEvent(models.Model):
    """One event a Subscription's topic generated: its number, when, and the resource version in focus."""

    subscription = models.ForeignKey(SubscriptionState, on_delete=models.CASCADE, related_name="events")
    number = models.BigIntegerField()
    timestamp = models.DateTimeField()
    focus_type = models.CharField(max_length=64)
    focus_id = models.CharField(max_length=64)
    focus_version = models.PositiveIntegerField()
    created = models.BooleanField(help_text="The event's interaction was a create (else an update).")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscription", "number"], name="sandbox_subscription_event_unique"),
        ]

    def __str__(self) -> str:
        return f"event {self.number} of {self.subscription_id}: {self.focus_type}/{self.focus_id}"
