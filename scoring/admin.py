"""Django admin: model registry (audited status changes) and threshold policies (reasoned edits with history)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from scoring.card import external_metrics
from scoring.models import ModelVersion, ThresholdPolicy, ThresholdPolicyChange
from scoring.presentation import percent_text, points_text
from scoring.services_registry import POLICY_FIELDS, model_status_set, policy_update

# django-stubs makes ModelAdmin, TabularInline and ModelForm generic, but Django cannot subscript them at
# runtime (that takes django_stubs_ext.monkeypatch()): the classes below carry `type: ignore[type-arg]`.


class ModelVersionForm(forms.ModelForm):  # type: ignore[type-arg]
    """Status edits need a reason."""

    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Why (kept in the audit trail).")

    class Meta:
        model = ModelVersion
        fields = ["status"]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Registered versions; only the status is editable (rollback = re-activate an older version)."""

    form = ModelVersionForm
    list_display = (
        "name",
        "version",
        "status",
        "kind",
        "spec_version",
        "external_auroc",
        "card_page",
        "short_sha",
        "registered_by",
        "registered_at",
    )
    list_filter = ("name", "status", "kind")
    readonly_fields = (
        "name",
        "version",
        "title",
        "kind",
        "sha256",
        "artifact_path",
        "spec_version",
        "metrics",
        "registered_by",
        "registered_at",
        "updated_at",
    )

    @admin.display(description="sha256")
    def short_sha(self, obj: ModelVersion) -> str:
        """First 12 hex digits."""
        return obj.sha256[:12]

    @admin.display(description="external AUROC")
    def external_auroc(self, obj: ModelVersion) -> str:
        """AUROC of the card's external evaluation (set B for sepsis, held-out patients for readmission)."""
        auroc = external_metrics(obj.card or {})[1].get("auroc")
        return f"{auroc:.3f}" if isinstance(auroc, float) else "-"

    @admin.display(description="model card")
    def card_page(self, obj: ModelVersion) -> str:
        """Link to the version's card page."""
        url = reverse("scoring:model_card", kwargs={"name": obj.name, "version": obj.version})
        return format_html('<a href="{}">card</a>', url)

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Versions come from register_model / install_models, never hand-typed."""
        return False

    def save_model(self, request: HttpRequest, obj: ModelVersion, form: Any, change: bool) -> None:
        """Route the status change through the audited service."""
        status = obj.status
        obj.status = ModelVersion.objects.get(pk=obj.pk).status
        model_status_set(mv=obj, status=status, actor=request.user.get_username(), reason=form.cleaned_data["reason"])


class PolicyChangeInline(admin.TabularInline):  # type: ignore[type-arg]
    """Read-only history of a policy."""

    model = ThresholdPolicyChange
    extra = 0
    can_delete = False
    readonly_fields = ("changed_at", "changed_by", "reason", "before", "after")

    def has_add_permission(self, request: HttpRequest, obj: ThresholdPolicy | None = None) -> bool:
        """History is written by the service only."""
        return False


class ThresholdPolicyForm(forms.ModelForm):  # type: ignore[type-arg]
    """Threshold edits need a reason."""

    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Why (kept in history and audit).")

    class Meta:
        model = ThresholdPolicy
        fields = list(POLICY_FIELDS)

    def clean(self) -> dict[str, Any]:
        """moderate <= high."""
        data = super().clean() or {}
        if (
            data.get("moderate_at") is not None
            and data.get("high_at") is not None
            and data["moderate_at"] > data["high_at"]
        ):
            raise forms.ValidationError("moderate_at must not exceed high_at.")
        return data


def _threshold_text(policy: ThresholdPolicy, value: float) -> str:
    return points_text(value) if policy.model_version.kind == ModelVersion.Kind.RULE else percent_text(value)


@admin.register(ThresholdPolicy)
class ThresholdPolicyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Per-version thresholds and band indicators, with their history."""

    form = ThresholdPolicyForm
    list_display = (
        "model_version",
        "moderate_shown",
        "high_shown",
        "low_indicator",
        "moderate_indicator",
        "high_indicator",
        "updated_at",
    )
    readonly_fields = ("model_version", "source", "updated_at")
    inlines = [PolicyChangeInline]

    @admin.display(description="moderate from", ordering="moderate_at")
    def moderate_shown(self, obj: ThresholdPolicy) -> str:
        """Rounded as clinicians read it (the history keeps the full value)."""
        return _threshold_text(obj, obj.moderate_at)

    @admin.display(description="high from", ordering="high_at")
    def high_shown(self, obj: ThresholdPolicy) -> str:
        """Rounded as clinicians read it (the history keeps the full value)."""
        return _threshold_text(obj, obj.high_at)

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Policies are created with their model version."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ThresholdPolicy | None = None) -> bool:
        """A version always has a policy."""
        return False

    def save_model(self, request: HttpRequest, obj: ThresholdPolicy, form: Any, change: bool) -> None:
        """Save through the service (history + audit)."""
        changes = {f: form.cleaned_data[f] for f in POLICY_FIELDS}
        fresh = ThresholdPolicy.objects.get(pk=obj.pk)
        policy_update(
            policy=fresh, changes=changes, actor=request.user.get_username(), reason=form.cleaned_data["reason"]
        )


from scoring import admin_monitoring  # noqa: E402, F401  (monitoring admin: thresholds, outcome uploads)
