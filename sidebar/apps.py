"""App configuration for the clinician sidebar."""

from django.apps import AppConfig


class SidebarConfig(AppConfig):
    """The sidebar page a SMART launch opens."""

    name = "sidebar"
    verbose_name = "Clinician sidebar"
