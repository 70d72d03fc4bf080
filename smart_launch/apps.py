"""App configuration for smart_launch."""
from django.apps import AppConfig


class SmartLaunchConfig(AppConfig):
    """SMART launch app."""

    name = "smart_launch"
    verbose_name = "SMART launch"
