"""Admin of the audit trail (read-only, with audited break-glass), and Django's users and groups audited."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from audit.admin_mixins import AuditedAdminMixin, ReadOnlyAdminMixin
from audit.break_glass import AUDITOR_GROUP, BREAK_GLASS_LIMIT, break_glass_allowed, break_glass_reveal
from audit.models import AuditRecord


class BreakGlassForm(forms.Form):
    """The reason an auditor must give before a patient reference is decrypted."""

    reason = forms.CharField(
        max_length=500,
        min_length=10,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why you need the patient's identity. Recorded in the audit trail.",
    )


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only for everyone (superusers included): the chain is append-only."""

    list_display = (
        "id",
        "recorded_at",
        "action",
        "outcome",
        "actor",
        "purpose_of_use",
        "model_name",
        "model_version",
        "short_pseudonym",
    )
    list_filter = ("action", "outcome", "purpose_of_use", "model_name")
    search_fields = ("actor", "patient_pseudonym", "request_id", "record_hash")
    date_hierarchy = "recorded_at"
    exclude = ("patient_ref_encrypted",)
    actions = ["break_glass"]

    @admin.display(description="patient pseudonym")
    def short_pseudonym(self, obj: AuditRecord) -> str:
        return obj.patient_pseudonym[:12]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in AuditRecord._meta.fields if f.name != "patient_ref_encrypted"]

    def has_break_glass_permission(self, request: HttpRequest) -> bool:
        return break_glass_allowed(request.user)

    @admin.action(
        description="Break glass: reveal the patient of the selected records (audited)", permissions=["break_glass"]
    )
    def break_glass(self, request: HttpRequest, queryset: QuerySet[AuditRecord]) -> HttpResponse | None:
        records = list(queryset.order_by("id")[: BREAK_GLASS_LIMIT + 1])
        if len(records) > BREAK_GLASS_LIMIT:
            self.message_user(request, f"Select at most {BREAK_GLASS_LIMIT} records.", messages.ERROR)
            return None
        form = BreakGlassForm(request.POST if "reason" in request.POST else None)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "records": records,
            "form": form,
            "auditor_group": AUDITOR_GROUP,
            "title": "Break glass",
        }
        if form.is_bound and form.is_valid():
            context["revealed"] = break_glass_reveal(
                user=request.user, records=records, reason=form.cleaned_data["reason"]
            )
        return TemplateResponse(request, "audit/break_glass.html", context)


class AuditedUserAdmin(AuditedAdminMixin, UserAdmin):  # type: ignore[type-arg]
    """Django's user admin; every change (groups, permissions, passwords) is an audited admin change."""


class AuditedGroupAdmin(AuditedAdminMixin, GroupAdmin):
    """Django's group admin; permission changes are audited admin changes."""


admin.site.unregister(User)
admin.site.register(User, AuditedUserAdmin)
admin.site.unregister(Group)
admin.site.register(Group, AuditedGroupAdmin)
