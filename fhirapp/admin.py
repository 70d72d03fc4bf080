"""Django admin of fhirapp: the write-back queue with retry."""
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from audit.admin_mixins import AuditedAdminMixin
from fhirapp.models import FailedWriteBack, WriteBack
from fhirapp.services.writeback import write_back_retry


@admin.register(WriteBack)
class WriteBackAdmin(AuditedAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """The write-back queue; rows change only through delivery or the audited "retry" action."""

    list_display: tuple[str, ...] = ("id", "model_name", "model_version", "as_of", "status", "attempts", "source",
                                     "service_id", "fhir_base_url", "updated_at", "error")
    list_filter = ("status", "model_name", "source")
    search_fields = ("idempotency_key", "patient_pseudonym", "service_id")
    exclude = ("patient_ref_encrypted", "payload_encrypted", "user_token_encrypted")
    readonly_fields = ("idempotency_key", "service_id", "source", "model_name", "model_version", "as_of",
                       "patient_pseudonym", "fhir_base_url", "status", "attempts", "last_error", "resource_refs",
                       "created_at", "updated_at")
    actions = ["retry"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Retry the selected failed write-backs", permissions=["change"])
    def retry(self, request: HttpRequest, queryset: QuerySet[WriteBack]) -> None:
        retried = 0
        for write_back in queryset.filter(status=WriteBack.Status.FAILED):
            if write_back_retry(write_back):
                self.log_change(request, write_back, "Retried a failed write-back")
                retried += 1
        skipped = queryset.count() - retried
        self.message_user(request, f"{retried} write-back(s) queued again"
                                   + (f"; {skipped} skipped (not failed)" if skipped else "") + ".")


@admin.register(FailedWriteBack)
class FailedWriteBackAdmin(WriteBackAdmin):
    """Only the failed write-backs, with their error and OperationOutcome."""

    list_display: tuple[str, ...] = ("id", "model_name", "model_version", "as_of", "attempts", "fhir_base_url",
                                     "updated_at", "error", "upstream_status")

    def get_queryset(self, request: HttpRequest) -> QuerySet[WriteBack]:
        return super().get_queryset(request).filter(status=WriteBack.Status.FAILED)

    @admin.display(description="upstream status")
    def upstream_status(self, obj: WriteBack) -> str:
        return str((obj.last_error.get("extra") or {}).get("upstream_status", ""))
