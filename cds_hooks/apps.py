"""App configuration for cds_hooks."""
from django.apps import AppConfig


class CdsHooksConfig(AppConfig):
    """CDS Hooks app."""

    name = "cds_hooks"
    verbose_name = "CDS Hooks"
