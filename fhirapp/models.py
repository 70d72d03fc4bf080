"""ORM models of fhirapp: the write-back queue."""

from django.db import models

from audit.models import ChangeRecord


class WriteBack(models.Model):
    """One assessment written back to an EHR as RiskAssessment + Observation + Provenance (one transaction).

    `idempotency_key` = sha256 over (EHR, model name@version, patient, encounter, inputs digest): what was
    assessed, never when; it is also the business identifier of the written resources, so conditional
    creates never duplicate them. `supersedes` links the earlier write-back this one replaces (kept, never
    deleted); the written Provenance names that RiskAssessment as the revised entity.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    class Source(models.TextChoices):
        CDS = "cds", "CDS Hooks service"
        SIDEBAR = "sidebar", "SMART sidebar"
        POPULATION = "population", "Population run"

    idempotency_key = models.CharField(max_length=64, unique=True)
    service_id = models.CharField(max_length=100, blank=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    model_name = models.CharField(max_length=64, db_index=True)
    model_version = models.CharField(max_length=64)
    as_of = models.DateTimeField()
    encounter_id = models.CharField(max_length=200, blank=True)
    input_digest = models.CharField(max_length=64, blank=True)  # sha256 of the feature values scored
    band = models.CharField(max_length=20, blank=True)
    hook_instance = models.CharField(max_length=200, blank=True)  # the CDS call that asked for it ("" = sidebar)
    supersedes = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    patient_pseudonym = models.CharField(max_length=64, db_index=True)
    patient_ref_encrypted = models.TextField()
    fhir_base_url = models.URLField(max_length=500)
    payload_encrypted = models.TextField()  # the transaction Bundle (holds the patient id): encrypted at rest
    user_token_encrypted = models.TextField(blank=True)  # launching user's token, cleared once finished
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    # When the next attempt is due at the latest (queued now, an attempt running until its time limit, or a retry
    # waiting out its backoff): a pending row past it (plus WRITEBACK_RECONCILE_GRACE_SECONDS) was lost, e.g. with
    # a killed worker, and the reconciler queues it again.
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # An attempt holds the row until then, so a duplicate message (re-queued or redelivered) never runs beside it.
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True)  # the Celery task id (kept by its own retries)
    last_error = models.JSONField(default=dict, blank=True)  # {"message","code","extra"} incl. OperationOutcome
    resource_refs = models.JSONField(default=list, blank=True)  # locations answered by the FHIR server
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["patient_pseudonym", "model_name", "-updated_at"])]
        constraints = [
            models.UniqueConstraint(  # a repeated hookInstance never writes again
                fields=["hook_instance", "model_name"],
                condition=~models.Q(hook_instance=""),
                name="writeback_one_per_hook_instance",
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_name} {self.model_version} {self.as_of:%Y-%m-%d %H:%M} {self.status}"

    @property
    def risk_assessment_ref(self) -> str:
        """The EHR's reference of the written RiskAssessment ("" until delivered)."""
        return next((ref for ref in self.resource_refs if str(ref).startswith("RiskAssessment/")), "")

    @property
    def error(self) -> str:
        """The last error message ("" when none)."""
        return str(self.last_error.get("message", "")) if self.last_error else ""


class FailedWriteBack(WriteBack):
    """Admin view of the write-backs that failed (proxy)."""

    class Meta:
        proxy = True
        verbose_name = "failed write-back"


class WriteBackPolicy(models.Model):
    """When an assessment of one model is new information for the chart (edited in admin, with history).

    Written: the first for a patient and encounter; a changed band (when `write_on_band_change`); changed
    inputs once `min_interval_minutes` have passed since the last one written. Same inputs never write again.
    """

    model_name = models.CharField(max_length=64, unique=True)
    write_on_band_change = models.BooleanField(
        default=True, help_text="write at once when the band differs from the last written one"
    )
    min_interval_minutes = models.PositiveIntegerField(
        default=60, help_text="changed inputs in the same band write at most once per this many minutes"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "write-back policies"

    def __str__(self) -> str:
        return f"write-back policy of {self.model_name}"


class WriteBackPolicyChange(ChangeRecord):
    """History of write-back policy edits: who, when, why, before and after (append-only)."""

    policy = models.ForeignKey(WriteBackPolicy, on_delete=models.CASCADE, related_name="changes")

    def __str__(self) -> str:
        return f"{self.policy.model_name} policy change {self.changed_at:%Y-%m-%d %H:%M}"
