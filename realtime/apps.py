"""App configuration of realtime (the real-time door into the one pipeline)."""

from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Real-time rescoring"
    default_auto_field = "django.db.models.BigAutoField"
