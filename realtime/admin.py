"""Admin of the real-time door: device sources (editable, changes audited), device vitals and rescores (read-only);
our subscriptions at EHRs register in their own module (realtime.subscription_admin)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.admin_mixins import AuditedAdminMixin, ReadOnlyAdminMixin
from cds_hooks.services.clients import public_jwks
from realtime import subscription_admin
from realtime.auth import device_sources_forget
from realtime.models import DeviceSource, DeviceVital, Rescore

__all__ = ["subscription_admin"]


@admin.register(DeviceSource)
class DeviceSourceAdmin(AuditedAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Who may send device vitals, for which EHR, and where their public keys are."""

    list_display = ("name", "registration", "jwks_url", "enabled", "updated_at")
    list_filter = ("enabled", "registration")
    search_fields = ("name",)
    audit_reason_required = True

    def save_model(self, request: HttpRequest, obj: DeviceSource, form: Any, change: bool) -> None:
        """Keep only public key members; forget this process's memo of sources."""
        obj.jwks = public_jwks(obj.jwks) if obj.jwks else None
        super().save_model(request, obj, form, change)
        device_sources_forget()


@admin.register(DeviceVital)
class DeviceVitalAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Device vitals as received (deduplicated by source and source event id)."""

    list_display = ("source", "source_event_id", "patient", "code", "value", "unit", "event_time", "received_at")
    list_filter = ("source",)
    search_fields = ("source_event_id", "patient")
    date_hierarchy = "event_time"


@admin.register(Rescore)
class RescoreAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Each real-time rescore: the patient, the served results and how many events it took in."""

    list_display = ("patient", "unit", "as_of", "scored_at", "events")
    search_fields = ("patient",)
    date_hierarchy = "scored_at"
