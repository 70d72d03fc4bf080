"""Django admin of cds_hooks: trusted clients, service settings, issued cards with alert-burden metrics."""

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from audit.admin_mixins import AuditedAdminMixin, ReadOnlyAdminMixin
from cds_hooks.models import CardFeedback, CdsServiceSetting, IssuedCard, TrustedCdsClient
from cds_hooks.selectors import alert_burden, cds_catalogue_reset
from cds_hooks.services.clients import public_jwks
from cds_hooks.trust import trusted_clients_forget

# django-stubs makes ModelAdmin, TabularInline and ModelForm generic, but Django cannot subscript them at
# runtime (that takes django_stubs_ext.monkeypatch()): the classes below carry `type: ignore[type-arg]`.


@admin.register(TrustedCdsClient)
class TrustedCdsClientAdmin(AuditedAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Which EHRs may call our CDS services, where their public keys are, and which FHIR servers they name."""

    list_display = ("iss", "jwks_url", "fhir_servers", "tenant", "enabled", "updated_at")
    list_filter = ("enabled",)
    search_fields = ("iss", "tenant")

    def save_model(self, request: HttpRequest, obj: TrustedCdsClient, form: Any, change: bool) -> None:
        """Keep only public key members, save (audited once, by AuditedAdminMixin)."""
        obj.jwks = public_jwks(obj.jwks) if obj.jwks else None
        super().save_model(request, obj, form, change)
        trusted_clients_forget()


@admin.register(CdsServiceSetting)
class CdsServiceSettingAdmin(AuditedAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Per-service behaviour: enabled, card or nothing when not scored, write-back."""

    list_display = ("service_id", "enabled", "not_scored", "write_back")

    def save_model(self, request: HttpRequest, obj: CdsServiceSetting, form: Any, change: bool) -> None:
        """Save (audited once, by AuditedAdminMixin), refresh this worker's catalogue."""
        super().save_model(request, obj, form, change)
        cds_catalogue_reset()


class CardFeedbackInline(admin.TabularInline):  # type: ignore[type-arg]
    """Feedback received for a card (read-only)."""

    model = CardFeedback
    extra = 0
    can_delete = False
    readonly_fields = (
        "outcome",
        "reason_system",
        "reason_code",
        "reason_display",
        "user_comment",
        "accepted_suggestions",
        "outcome_timestamp",
        "client_iss",
        "received_at",
    )

    def has_add_permission(self, request: HttpRequest, obj: IssuedCard | None = None) -> bool:
        """Feedback comes only from CDS clients."""
        return False


@admin.register(IssuedCard)
class IssuedCardAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Issued cards (read-only) with the alert burden: issued vs accepted vs overridden vs ignored."""

    change_list_template = "cds_hooks/admin/issuedcard_change_list.html"
    list_display = ("issued_at", "service_id", "model_version", "indicator", "band", "summary", "outcome")
    list_filter = ("service_id", "model_version", "indicator", "outcome", "scored")
    search_fields = ("uuid", "patient_pseudonym", "hook_instance")
    date_hierarchy = "issued_at"
    inlines = [CardFeedbackInline]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """The changelist, with the alert-burden table computed over the current filters."""
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if context is not None and "cl" in context:
            context["alert_burden"] = alert_burden(context["cl"].queryset)
            context["feedback_window_minutes"] = settings.CDS_FEEDBACK_WINDOW_MINUTES
        return response
