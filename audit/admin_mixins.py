"""A ModelAdmin mixin that writes an `admin_change` audit record for every add, change and delete, and the
read-only inline of a policy's history (`ChangeRecordInline`).

Use it in any app: `class ThresholdAdmin(AuditedAdminMixin, admin.ModelAdmin): audit_reason_required = True`.
It hooks Django's own admin logging (`log_addition`, `log_change`, `log_deletions`), so every path that
writes a LogEntry (forms, actions that call `log_change`) is audited too; with `audit_reason_required`
the form gets a mandatory "Reason for this change" field whose text goes into the audit record.
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from audit.services import audit_record_create

_REASON_ATTR = "_stratify_audit_reason"


class AuditedAdminMixin:
    """Audits admin writes; optionally requires a reason on the change form."""

    audit_reason_required: bool = False

    def get_form(self, request: HttpRequest, obj: Model | None = None, change: bool = False, **kwargs: Any) -> Any:
        if self.audit_reason_required and "form" not in kwargs:
            base = self.form  # type: ignore[attr-defined]
            kwargs["form"] = type(
                f"Audited{base.__name__}",
                (base,),
                {
                    "audit_reason": forms.CharField(
                        label="Reason for this change",
                        max_length=500,
                        widget=forms.Textarea(attrs={"rows": 2}),
                        help_text="Required; recorded in the audit trail.",
                    )
                },
            )
        return super().get_form(request, obj, change, **kwargs)  # type: ignore[misc]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        setattr(request, _REASON_ATTR, form.cleaned_data.get("audit_reason", "") if form.is_bound else "")
        super().save_model(request, obj, form, change)  # type: ignore[misc]

    def log_addition(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        entry = super().log_addition(request, obj, message)  # type: ignore[misc]
        admin_change_audit(request, obj, operation="add", message=message)
        return entry

    def log_change(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        entry = super().log_change(request, obj, message)  # type: ignore[misc]
        admin_change_audit(request, obj, operation="change", message=message)
        return entry

    def log_deletions(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        objects = list(queryset)
        entries = super().log_deletions(request, queryset)  # type: ignore[misc]
        for obj in objects:
            admin_change_audit(request, obj, operation="delete", message="")
        return entries


def admin_change_audit(request: HttpRequest, obj: Model, *, operation: str, message: Any) -> None:
    """One `admin_change` record: who, which object, what changed and why."""
    user = getattr(request, "user", None)
    username = user.get_username() if user is not None and user.is_authenticated else "anonymous"
    audit_record_create(
        action="admin_change",
        actor=f"admin:{username}",
        purpose_of_use="HSYSADMIN",
        actor_detail={"user_id": getattr(user, "pk", None)},
        detail={
            "operation": operation,
            "model": obj._meta.label_lower,
            "object_id": str(obj.pk),
            "object_repr": str(obj)[:200],
            "change_message": message if isinstance(message, list | str) else str(message),
            "reason": getattr(request, _REASON_ATTR, ""),
        },
    )


class ReadOnlyAdminMixin:
    """For audit-type tables: viewable in admin, never added, changed or deleted there (even by superusers)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ChangeRecordInline(admin.TabularInline):  # type: ignore[type-arg]
    """Read-only history of a policy (rows of an `audit.models.ChangeRecord` subclass: set `model`): who changed
    it, when, why, before and after. History is written by the policy's service only."""

    extra = 0
    can_delete = False
    readonly_fields = ("changed_at", "changed_by", "reason", "before", "after")

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
