"""Django admin: model registry (audited status changes), threshold policies (reasoned edits with history),
promotion requests (two-person approval, rollback) and each model's change log."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from audit.admin_mixins import ChangeRecordInline, ReadOnlyAdminMixin
from config.errors import ApplicationError
from scoring.card import external_metrics
from scoring.models import ModelChange, ModelVersion, PromotionRequest, ThresholdPolicy, ThresholdPolicyChange
from scoring.presentation import percent_text, points_text
from scoring.services_promotion import decision_problem, promotion_decide, promotion_request_create
from scoring.services_registry import POLICY_FIELDS, model_status_set, policy_update

# django-stubs makes ModelAdmin, TabularInline and ModelForm generic, but Django cannot subscript them at
# runtime (that takes django_stubs_ext.monkeypatch()): the classes below carry `type: ignore[type-arg]`.


class ModelVersionForm(forms.ModelForm):  # type: ignore[type-arg]
    """Status edits need a reason."""

    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Why (kept in the audit trail).")

    class Meta:
        model = ModelVersion
        fields = ["status"]


class ChangeLogInline(admin.TabularInline):  # type: ignore[type-arg]
    """The version's change-log entries (read-only)."""

    model = ModelChange
    fk_name = "model_version"
    extra = 0
    can_delete = False
    fields = ("changed_at", "kind", "what", "reason", "changed_by", "approved_by")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: ModelVersion | None = None) -> bool:
        """Written by the services only."""
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Registered versions; only the status is editable (rollback = re-activate an older version)."""

    form = ModelVersionForm
    inlines = [ChangeLogInline]
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


class PolicyChangeInline(ChangeRecordInline):
    """Read-only history of a policy."""

    model = ThresholdPolicyChange


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


class PromotionRequestForm(forms.ModelForm):  # type: ignore[type-arg]
    """A new request (challenger, target, why) or, on an existing one, a decision with its reason."""

    decision = forms.ChoiceField(
        choices=[("", "---"), ("approve", "approve"), ("reject", "reject"), ("rollback", "roll back")], required=False
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, help_text="Why (kept in the audit trail)."
    )
    actor = ""

    class Meta:
        model = PromotionRequest
        fields = ["challenger", "target_status", "reason"]

    def clean(self) -> dict[str, Any]:
        """A decision is checked before anything is saved (reason, state, two-person rule)."""
        data = super().clean() or {}
        if self.instance.pk and data.get("decision"):
            problem = decision_problem(self.instance, data["decision"], self.actor, data.get("note") or "")
            if problem:
                raise forms.ValidationError(problem)
        return data


@admin.register(PromotionRequest)
class PromotionRequestAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Promotion requests: created with a reason, decided by a second person, rolled back in one action."""

    form = PromotionRequestForm
    list_display = ("challenger", "target_status", "champion", "state", "requested_by", "decided_by", "requested_at")
    list_filter = ("state", "target_status")
    evidence_fields = ("served_cases_shown", "served_outcomes_shown", "labelled_local_shown")
    readonly_fields = (
        "champion",
        "state",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
        "decision_reason",
        "statuses_before",
        "rolled_back_by",
        "rolled_back_at",
        "rollback_reason",
        *evidence_fields,
    )

    def get_fields(self, request: HttpRequest, obj: PromotionRequest | None = None) -> Any:
        """New: challenger, target, reason. Existing: the record, its evidence, and the decision."""
        if obj is None:
            return ["challenger", "target_status", "reason"]
        return ["challenger", "target_status", "reason", *self.readonly_fields, "decision", "note"]

    def get_readonly_fields(self, request: HttpRequest, obj: PromotionRequest | None = None) -> Any:
        """An existing request's own fields are fixed."""
        fixed = ("challenger", "target_status", "reason") if obj is not None else ()
        return (*fixed, *self.readonly_fields) if obj is not None else ()

    def get_form(self, request: HttpRequest, obj: Any | None = None, change: bool = False, **kwargs: Any) -> Any:
        """The form knows who decides (for the two-person rule)."""
        form: Any = super().get_form(request, obj, change, **kwargs)
        form.actor = request.user.get_username()
        if obj is None:
            form.base_fields["challenger"].queryset = ModelVersion.objects.filter(
                kind=ModelVersion.Kind.ML, status__in=(ModelVersion.Status.SHADOW, ModelVersion.Status.CANARY)
            )
        return form

    @admin.display(description="same recent served cases")
    def served_cases_shown(self, obj: PromotionRequest) -> str:
        """Champion vs challenger on the champion's recent served cases."""
        return _evidence_table(obj.evidence.get("served_cases") or {})

    @admin.display(description="served cases with known outcomes")
    def served_outcomes_shown(self, obj: PromotionRequest) -> str:
        """Champion vs challenger discrimination and calibration on served cases whose outcomes are known."""
        return _outcomes_table(obj, obj.evidence.get("served_outcomes") or {})

    @admin.display(description="labelled local stays (held out)")
    def labelled_local_shown(self, obj: PromotionRequest) -> str:
        """Challenger vs its base on the held-out labelled site stays."""
        return _evidence_table(obj.evidence.get("labelled_local") or {})

    def has_delete_permission(self, request: HttpRequest, obj: PromotionRequest | None = None) -> bool:
        """Requests are the governance record."""
        return False

    def save_model(self, request: HttpRequest, obj: PromotionRequest, form: Any, change: bool) -> None:
        """Create through the service, or route the decision through it."""
        actor = request.user.get_username()
        try:
            if not change:
                created = promotion_request_create(
                    challenger=obj.challenger, target_status=obj.target_status, requested_by=actor, reason=obj.reason
                )
                obj.pk = created.pk
                obj.__dict__.update({k: v for k, v in created.__dict__.items() if not k.startswith("_")})
            elif form.cleaned_data.get("decision"):
                fresh = PromotionRequest.objects.get(pk=obj.pk)
                promotion_decide(
                    request=fresh, decision=form.cleaned_data["decision"], actor=actor, reason=form.cleaned_data["note"]
                )
        except ApplicationError as exc:
            self.message_user(request, exc.message, level="error")


def _evidence_table(part: dict[str, Any]) -> str:
    """One comparison as a two-column HTML table (nested values as JSON-ish text)."""
    rows = "".join(format_html("<tr><th>{}</th><td>{}</td></tr>", k, _shown(v)) for k, v in part.items())
    return format_html("<table>{}</table>", mark_safe(rows))  # noqa: S308 - each row built by format_html


OUTCOME_METRICS = {
    "auroc": "AUROC",
    "auprc": "AUPRC",
    "ece": "ECE",
    "calibration_slope": "calibration slope (1 when calibrated)",
    "calibration_intercept": "calibration intercept (0 when calibrated)",
}


def _outcomes_table(request: PromotionRequest, part: dict[str, Any]) -> str:
    """The counts, then either the note (too few, no champion) or each metric of both models with its interval."""
    if not part:
        return "Not computed for this request (it predates this comparison)."
    counts = format_html(
        "<p>{} labelled served cases ({} with the outcome); {} patients with the outcome, {} without.</p>",
        part.get("cases", 0),
        part.get("cases_with_outcome", 0),
        part.get("patients_with_outcome", 0),
        part.get("patients_without_outcome", 0),
    )
    if "note" in part:
        return format_html("{}<p>{}</p>", counts, part["note"])
    champion = request.champion.version if request.champion else "champion"
    head = format_html(
        "<tr><th></th><th>current {}</th><th>challenger {}</th></tr>", champion, request.challenger.version
    )
    rows = "".join(
        format_html(
            "<tr><th>{}</th><td>{}</td><td>{}</td></tr>", label, _ci(part["champion"][k]), _ci(part["challenger"][k])
        )
        for k, label in OUTCOME_METRICS.items()
    )
    when = format_html(
        "<p>Served {} to {}; 95 % intervals from a bootstrap over patients.</p>", part["from"], part["to"]
    )
    return format_html("{}{}<table>{}{}</table>", counts, when, head, mark_safe(rows))  # noqa: S308 - rows by format_html


def _ci(metric: dict[str, Any]) -> str:
    value, ci = metric.get("value"), metric.get("ci")
    if value is None:
        return "not computable (one class)"
    return f"{value:.3f}" + (f" (95% CI {ci[0]:.3f} to {ci[1]:.3f})" if ci else " (no interval: too few resamples)")


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_shown(v)}" for k, v in value.items())
    return str(value)


@admin.register(ModelChange)
class ModelChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """The change log of every model (read-only): what changed, why, evidence, who requested and approved."""

    list_display = ("changed_at", "model_version", "kind", "what", "changed_by", "approved_by")
    list_filter = ("kind", "model_version__name")
    readonly_fields = (
        "model_version",
        "kind",
        "what",
        "reason",
        "evidence",
        "changed_by",
        "approved_by",
        "request",
        "before",
        "after",
        "changed_at",
    )


from scoring import admin_monitoring  # noqa: E402, F401  (monitoring admin: thresholds, outcome uploads)
