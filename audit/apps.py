"""App configuration for the audit trail."""

from django.apps import AppConfig


class AuditConfig(AppConfig):
    """Audit trail, break-glass and governance groups."""

    name = "audit"
    verbose_name = "Audit trail"
