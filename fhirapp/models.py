"""ORM models of fhirapp: the write-back queue."""

from django.db import models


class WriteBack(models.Model):
    """One score written back to an EHR as RiskAssessment + Observation + Provenance (one transaction).

    `idempotency_key` = sha256 over (service, model name and version, patient, as-of); it is also the
    business identifier of the written resources, so conditional creates never duplicate them.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    class Source(models.TextChoices):
        CDS = "cds", "CDS Hooks service"
        SIDEBAR = "sidebar", "SMART sidebar"

    idempotency_key = models.CharField(max_length=64, unique=True)
    service_id = models.CharField(max_length=100, blank=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    model_name = models.CharField(max_length=64, db_index=True)
    model_version = models.CharField(max_length=64)
    as_of = models.DateTimeField()
    patient_pseudonym = models.CharField(max_length=64, db_index=True)
    patient_ref_encrypted = models.TextField()
    fhir_base_url = models.URLField(max_length=500)
    payload_encrypted = models.TextField()  # the transaction Bundle (holds the patient id): encrypted at rest
    user_token_encrypted = models.TextField(blank=True)  # launching user's token, cleared once finished
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.JSONField(default=dict, blank=True)  # {"message","code","extra"} incl. OperationOutcome
    resource_refs = models.JSONField(default=list, blank=True)  # locations answered by the FHIR server
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["patient_pseudonym", "model_name", "-updated_at"])]

    def __str__(self) -> str:
        return f"{self.model_name} {self.model_version} {self.as_of:%Y-%m-%d %H:%M} {self.status}"

    @property
    def error(self) -> str:
        """The last error message ("" when none)."""
        return str(self.last_error.get("message", "")) if self.last_error else ""


class FailedWriteBack(WriteBack):
    """Admin view of the write-backs that failed (proxy)."""

    class Meta:
        proxy = True
        verbose_name = "failed write-back"
