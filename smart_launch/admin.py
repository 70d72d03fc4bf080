"""Admin: EHR registrations (editable, changes audited) and our client keys (read-only, public parts only)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.admin_mixins import AuditedAdminMixin
from smart_launch.models import ClientKey, EhrRegistration


@admin.register(EhrRegistration)
class EhrRegistrationAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Which EHRs may launch the sidebar, with which client id, scopes and frame origins."""

    list_display = ("name", "iss", "client_id", "client_type", "offline_access", "enabled", "updated_at")
    list_filter = ("enabled", "client_type")
    search_fields = ("name", "iss", "client_id")
    # Audited once, by AuditedAdminMixin (it wrote a second record here: every save gave two admin_change rows).


@admin.register(ClientKey)
class ClientKeyAdmin(admin.ModelAdmin):
    """Our signing keys; rotate with `manage.py smart_keys rotate`. Private parts are never shown."""

    list_display = ("kid", "alg", "active", "created_at", "retired_at")
    list_filter = ("alg", "active")
    fields = ("kid", "alg", "active", "public_jwk", "created_at", "retired_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
