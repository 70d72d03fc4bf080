"""Django admin of alerts: policies per model and unit (edited with a reason, with history), alerts and their
notifications (read-only), the monitor findings told through the channels (read-only; their recipients are
set on the model's monitor policy), and the dead letters with an audited "retry" action."""

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from alerts.models import Alert, AlertPolicy, AlertPolicyChange, DeadLetter, FindingNotice, Notification
from alerts.services.notify import notification_retry
from alerts.services.policy import POLICY_FIELDS, alert_policy_update
from audit.admin_mixins import AuditedAdminMixin, ChangeRecordInline, ReadOnlyAdminMixin

# django-stubs makes ModelAdmin, TabularInline and ModelForm generic, but Django cannot subscript them at
# runtime: the classes below carry `type: ignore[type-arg]`.


class AlertPolicyChangeInline(ChangeRecordInline):
    """Who changed the policy, when, why, before and after (written by the service only)."""

    model = AlertPolicyChange


class AlertPolicyForm(forms.ModelForm):  # type: ignore[type-arg]
    """Policy edits need a reason."""

    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Why (kept in history and audit).")

    class Meta:
        model = AlertPolicy
        fields = ["model_name", "unit", *POLICY_FIELDS]


@admin.register(AlertPolicy)
class AlertPolicyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Per model and unit ("" = the model's default); a model without any uses the field defaults."""

    form = AlertPolicyForm
    list_display = ("model_name", "unit", "enabled", "min_band", "escalate_after_minutes", "expire_after_minutes")
    list_filter = ("model_name", "enabled", "min_band")
    inlines = [AlertPolicyChangeInline]

    def get_readonly_fields(self, request: HttpRequest, obj: AlertPolicy | None = None) -> tuple[str, ...]:
        return ("model_name", "unit", "updated_at") if obj is not None else ("updated_at",)

    def has_delete_permission(self, request: HttpRequest, obj: AlertPolicy | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: AlertPolicy, form: Any, change: bool) -> None:
        """Save through the service (history + audit)."""
        fresh = AlertPolicy.objects.filter(pk=obj.pk).first() or AlertPolicy(model_name=obj.model_name, unit=obj.unit)
        alert_policy_update(
            policy=fresh,
            changes={f: form.cleaned_data[f] for f in POLICY_FIELDS},
            actor=request.user.get_username(),
            reason=form.cleaned_data["reason"],
        )
        obj.pk = fresh.pk


class NotificationInline(ReadOnlyAdminMixin, admin.TabularInline):  # type: ignore[type-arg]
    model = Notification
    extra = 0
    fields = ("channel", "purpose", "recipients", "status", "attempts", "sent_at", "last_error")
    readonly_fields = fields


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Alerts as they were raised and closed (changed only by the lifecycle services)."""

    list_display = ("id", "model_name", "unit", "band", "score_text", "status", "created_at", "acknowledged_at")
    list_filter = ("status", "model_name", "band", "unit")
    search_fields = ("patient_pseudonym",)
    exclude = ("patient_ref_encrypted",)
    inlines = [NotificationInline]


@admin.register(FindingNotice)
class FindingNoticeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Monitor findings and the messages sent about them (recipients: the model's monitor policy)."""

    list_display = ("id", "model_name", "model_version", "monitor", "opened_at", "run_id")
    list_filter = ("monitor", "model_name")
    inlines = [NotificationInline]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Every message sent about an alert or a monitor finding, per channel."""

    list_display = ("id", "alert", "finding", "channel", "purpose", "status", "attempts", "sent_at", "created_at")
    list_filter = ("status", "channel", "purpose")


@admin.register(DeadLetter)
class DeadLetterAdmin(AuditedAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Notifications whose tries ran out or whose channel refused them, with the error; "retry" queues again."""

    list_display = (
        "id",
        "alert",
        "finding",
        "channel",
        "purpose",
        "recipients",
        "attempts",
        "created_at",
        "last_error",
    )
    list_filter = ("channel", "purpose")
    readonly_fields = (
        "alert",
        "finding",
        "channel",
        "purpose",
        "recipients",
        "status",
        "attempts",
        "last_error",
        "sent_at",
    )
    actions = ["retry"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notification]:
        return super().get_queryset(request).filter(status=Notification.Status.DEAD)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Notification | None = None) -> bool:
        return False

    @admin.action(description="Retry the selected dead-lettered notifications", permissions=["change"])
    def retry(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        retried = 0
        for notification in queryset:
            if notification_retry(notification):
                self.log_change(request, notification, "Retried a dead-lettered notification")
                retried += 1
        self.message_user(request, f"{retried} notification(s) queued again.")
