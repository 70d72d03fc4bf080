"""Admin listing of our subscriptions at EHRs: status, events processed, gaps, heartbeats, recoveries (read-only)."""

from django.contrib import admin

from audit.admin_mixins import ReadOnlyAdminMixin
from realtime.subscription_models import EhrSubscription


@admin.register(EhrSubscription)
class EhrSubscriptionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "registration",
        "topic",
        "content",
        "status",
        "remote_id",
        "events_through",
        "last_contact_at",
        "gaps_detected",
        "missed_heartbeats",
        "recoveries",
        "reactivations",
    )
    list_filter = ("registration", "status")
    exclude = ("secret_hash",)
