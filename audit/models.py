"""ORM model of the audit trail: append-only, hash-chained records."""

from typing import Any, NoReturn

from django.db import models
from django.utils import timezone


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete an audit record."""


class AuditRecordQuerySet(models.QuerySet["AuditRecord"]):
    """Refuses bulk updates and deletes."""

    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit records are append-only.")

    def delete(self) -> NoReturn:  # type: ignore[override]
        raise AppendOnlyError("Audit records are append-only.")


class AuditRecord(models.Model):
    """One audited event; `record_hash` chains it to the previous record (see audit.services)."""

    class Outcome(models.TextChoices):
        """How the event ended (a score that refused to score is `not_scored`)."""

        SUCCESS = "success"
        FAILURE = "failure"
        DENIED = "denied"
        NOT_SCORED = "not_scored"

    class Action(models.TextChoices):
        """Every kind of audited event."""

        SCORE = "score"
        CARD_ISSUED = "card_issued"
        FEEDBACK = "feedback"
        CDS_AUTH_FAILURE = "cds_auth_failure"
        SMART_LAUNCH = "smart_launch"
        SIDEBAR_VIEW = "sidebar_view"
        WRITE_BACK = "write_back"
        ADMIN_CHANGE = "admin_change"
        BREAK_GLASS = "break_glass"
        SMART_PURGE = "smart_purge"
        POPULATION_RUN = "population_run"
        POPULATION_WORKLIST = "population_worklist"
        DRIFT_CHECK = "drift_check"
        MONITOR_PURGE = "monitor_purge"
        PERFORMANCE_CHECK = "performance_check"
        OUTCOME_IMPORT = "outcome_import"
        ALERT = "alert"  # a state change of an alert, or one of its notifications (detail.transition)
        VITALS_INGEST = "vitals_ingest"
        DEVICE_AUTH_FAILURE = "device_auth_failure"
        REALTIME_STATE = "realtime_state"
        REALTIME_PURGE = "realtime_purge"
        SUBSCRIPTION_NOTIFICATION = "subscription_notification"
        SUBSCRIPTION_CHANGE = "subscription_change"

    recorded_at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=40, db_index=True, choices=Action.choices)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.SUCCESS)
    actor = models.CharField(max_length=300, blank=True)  # user, fhirUser, or "cds:<iss>"
    actor_detail = models.JSONField(default=dict, blank=True)
    purpose_of_use = models.CharField(max_length=20, default="TREAT")
    patient_pseudonym = models.CharField(max_length=64, blank=True, db_index=True)
    patient_ref_encrypted = models.TextField(blank=True)  # break-glass only
    model_name = models.CharField(max_length=64, blank=True)
    model_version = models.CharField(max_length=64, blank=True)
    spec_version = models.CharField(max_length=32, blank=True)
    input_digest = models.CharField(max_length=64, blank=True)
    output_summary = models.JSONField(default=dict, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    record_hash = models.CharField(max_length=64, unique=True)

    objects = AuditRecordQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["action", "recorded_at"])]
        permissions = [("break_glass_auditrecord", "Can reveal the patient of an audit record (break-glass)")]
        db_table = "fhirapp_auditrecord"  # the table it had before the audit trail got its own app

    def __str__(self) -> str:
        return f"{self.recorded_at:%Y-%m-%d %H:%M:%S} {self.action} {self.outcome}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("Audit records are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit records are append-only.")


class ChangeRecord(models.Model):
    """One edit of an admin-managed policy: who, when, why, before and after (append-only history).

    Subclasses add the foreign key `policy` to what they record the history of.
    """

    changed_by = models.CharField(max_length=150)
    changed_at = models.DateTimeField(auto_now_add=True)
    reason = models.TextField()
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)

    class Meta:
        abstract = True
        ordering = ["-changed_at"]
