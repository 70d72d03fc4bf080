"""Django admin of monitoring: monitor thresholds (reasoned edits with history), outcome uploads, and the
read-only outcome and performance records."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from audit.admin_mixins import ChangeRecordInline, ReadOnlyAdminMixin
from config.errors import ValidationFailed
from scoring.models import MonitorPolicy, MonitorPolicyChange, Outcome, OutcomeImport, PerformanceRun
from scoring.monitoring.outcomes import OutcomeItem, outcomes_parse, outcomes_store
from scoring.monitoring.policy import POLICY_FIELDS, monitor_policy_update

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class MonitorPolicyChangeInline(ChangeRecordInline):
    """Read-only history of a monitor policy."""

    model = MonitorPolicyChange


class MonitorPolicyForm(forms.ModelForm):  # type: ignore[type-arg]
    """Threshold edits need a reason."""

    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Why (kept in history and audit).")

    class Meta:
        model = MonitorPolicy
        fields = ["model_name", *POLICY_FIELDS]


@admin.register(MonitorPolicy)
class MonitorPolicyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Per-model monitor thresholds with their history; a model without a row uses the documented defaults."""

    form = MonitorPolicyForm
    list_display = ("model_name", "psi_major", "min_events", "auroc_min", "ece_max", "alerts_per_100_max", "updated_at")
    inlines = [MonitorPolicyChangeInline]

    def get_readonly_fields(self, request: HttpRequest, obj: MonitorPolicy | None = None) -> tuple[str, ...]:
        """The model of an existing policy stays."""
        return ("model_name", "updated_at") if obj else ("updated_at",)

    def has_delete_permission(self, request: HttpRequest, obj: MonitorPolicy | None = None) -> bool:
        """Thresholds are changed with a reason, never deleted without one."""
        return False

    def save_model(self, request: HttpRequest, obj: MonitorPolicy, form: Any, change: bool) -> None:
        """Save through the service (history + audit)."""
        changes = {f: form.cleaned_data[f] for f in POLICY_FIELDS}
        target = MonitorPolicy.objects.get(pk=obj.pk) if change else MonitorPolicy(model_name=obj.model_name)
        monitor_policy_update(
            policy=target, changes=changes, actor=request.user.get_username(), reason=form.cleaned_data["reason"]
        )
        obj.pk = target.pk


class OutcomeUploadForm(forms.ModelForm):  # type: ignore[type-arg]
    """A labelled outcome CSV; every bad row is shown and nothing is stored."""

    file = forms.FileField(help_text="CSV with columns patient, model, label, time (see scoring.monitoring.outcomes)")

    class Meta:
        model = OutcomeImport
        fields: list[str] = []

    def clean_file(self) -> list[OutcomeItem]:
        """Parse the whole file; row errors become form errors."""
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_UPLOAD_BYTES // 2**20} MiB; split it.")
        try:
            return outcomes_parse(upload.read().decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise forms.ValidationError("The file is not UTF-8 text.") from exc
        except ValidationFailed as exc:
            rows = [f"line {r['line']}: {r['error']}" for r in exc.extra.get("rows", [])]
            raise forms.ValidationError([str(exc), *rows]) from exc


@admin.register(OutcomeImport)
class OutcomeImportAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Outcome batches (files and EHR collections); add one by uploading a labelled file."""

    form = OutcomeUploadForm
    list_display = ("created_at", "kind", "source", "rows", "created", "imported_by")
    readonly_fields = ("kind", "source", "rows", "created", "imported_by", "created_at")

    def get_fields(self, request: HttpRequest, obj: OutcomeImport | None = None) -> Any:
        """The upload field when adding; the batch's facts otherwise."""
        return ["file"] if obj is None else list(self.readonly_fields)

    def has_change_permission(self, request: HttpRequest, obj: OutcomeImport | None = None) -> bool:
        """Batches are append-only."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: OutcomeImport | None = None) -> bool:
        """Batches are append-only."""
        return False

    def save_model(self, request: HttpRequest, obj: OutcomeImport, form: Any, change: bool) -> None:
        """Store the parsed file through the service (one transaction, audited)."""
        upload = form.files.get("file")
        batch = outcomes_store(
            kind=OutcomeImport.Kind.FILE,
            source=getattr(upload, "name", None) or "upload",
            items=form.cleaned_data["file"],
            actor=f"admin:{request.user.get_username()}",
        )
        obj.pk, obj.created_at = batch.pk, batch.created_at
        obj.kind, obj.source, obj.rows, obj.created = batch.kind, batch.source, batch.rows, batch.created


@admin.register(Outcome)
class OutcomeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Outcomes by pseudonym."""

    list_display = ("model_name", "patient_pseudonym", "occurred", "at", "batch", "recorded_at")
    list_filter = ("model_name", "occurred")


@admin.register(PerformanceRun)
class PerformanceRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Performance runs and the thresholds they crossed."""

    list_display = ("created_at", "model_name", "model_version", "verdict", "rows", "positives", "run_by")
    list_filter = ("model_name", "verdict")
