"""Django admin of fhirapp: the write-back queue with retry."""

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from audit.admin_mixins import AuditedAdminMixin, ChangeRecordInline
from fhirapp.models import FailedWriteBack, WriteBack, WriteBackPolicy, WriteBackPolicyChange
from fhirapp.services.writeback import write_back_retry
from fhirapp.services.writeback_policy import POLICY_FIELDS, write_back_policy_update

# django-stubs makes ModelAdmin, TabularInline and ModelForm generic, but Django cannot subscript them at
# runtime (that takes django_stubs_ext.monkeypatch()): the classes below carry `type: ignore[type-arg]`.


@admin.register(WriteBack)
class WriteBackAdmin(AuditedAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """The write-back queue; rows change only through delivery or the audited "retry" action."""

    list_display: tuple[str, ...] = (
        "id",
        "model_name",
        "model_version",
        "as_of",
        "band",
        "status",
        "attempts",
        "source",
        "service_id",
        "fhir_base_url",
        "supersedes",
        "updated_at",
        "error",
    )
    list_filter = ("status", "model_name", "source")
    search_fields = ("idempotency_key", "patient_pseudonym", "service_id")
    exclude = ("patient_ref_encrypted", "payload_encrypted", "user_token_encrypted")
    readonly_fields = (
        "idempotency_key",
        "service_id",
        "source",
        "model_name",
        "model_version",
        "as_of",
        "encounter_id",
        "input_digest",
        "band",
        "hook_instance",
        "supersedes",
        "patient_pseudonym",
        "fhir_base_url",
        "status",
        "attempts",
        "last_error",
        "resource_refs",
        "created_at",
        "updated_at",
    )
    actions = ["retry"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: WriteBack | None = None) -> bool:
        return False

    @admin.action(description="Retry the selected failed write-backs", permissions=["change"])
    def retry(self, request: HttpRequest, queryset: QuerySet[WriteBack]) -> None:
        retried = 0
        for write_back in queryset.filter(status=WriteBack.Status.FAILED):
            if write_back_retry(write_back):
                self.log_change(request, write_back, "Retried a failed write-back")
                retried += 1
        skipped = queryset.count() - retried
        self.message_user(
            request,
            f"{retried} write-back(s) queued again" + (f"; {skipped} skipped (not failed)" if skipped else "") + ".",
        )


@admin.register(FailedWriteBack)
class FailedWriteBackAdmin(WriteBackAdmin):
    """Only the failed write-backs, with their error and OperationOutcome."""

    list_display: tuple[str, ...] = (
        "id",
        "model_name",
        "model_version",
        "as_of",
        "attempts",
        "fhir_base_url",
        "updated_at",
        "error",
        "upstream_status",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[WriteBack]:
        return super().get_queryset(request).filter(status=WriteBack.Status.FAILED)

    @admin.display(description="upstream status")
    def upstream_status(self, obj: WriteBack) -> str:
        return str((obj.last_error.get("extra") or {}).get("upstream_status", ""))


class WriteBackPolicyChangeInline(ChangeRecordInline):
    """Who changed the policy, when, why, before and after (written by the service only)."""

    model = WriteBackPolicyChange


class WriteBackPolicyForm(forms.ModelForm):  # type: ignore[type-arg]
    """Policy edits need a reason."""

    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Why (kept in history and audit).")

    class Meta:
        model = WriteBackPolicy
        fields = ["model_name", *POLICY_FIELDS]


@admin.register(WriteBackPolicy)
class WriteBackPolicyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Per-model write-back policy (a model without one uses the defaults), with its history."""

    form = WriteBackPolicyForm
    list_display = ("model_name", "write_on_band_change", "min_interval_minutes", "updated_at")
    inlines = [WriteBackPolicyChangeInline]

    def get_readonly_fields(self, request: HttpRequest, obj: WriteBackPolicy | None = None) -> tuple[str, ...]:
        return ("model_name", "updated_at") if obj is not None else ("updated_at",)

    def has_delete_permission(self, request: HttpRequest, obj: WriteBackPolicy | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: WriteBackPolicy, form: Any, change: bool) -> None:
        """Save through the service (history + audit)."""
        fresh = WriteBackPolicy.objects.filter(pk=obj.pk).first() or WriteBackPolicy(model_name=obj.model_name)
        write_back_policy_update(
            policy=fresh,
            changes={f: form.cleaned_data[f] for f in POLICY_FIELDS},
            actor=request.user.get_username(),
            reason=form.cleaned_data["reason"],
        )
        obj.pk = fresh.pk
