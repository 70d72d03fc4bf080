"""App configuration of realtime (the real-time door into the one pipeline)."""

from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Real-time rescoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Enabled device sources' JWKS URLs are registered outbound bases; the listener check is registered."""
        from config import outbound
        from realtime import checks  # noqa: F401  (registers the system checks)
        from realtime.auth import registered_bases

        outbound.source_register(registered_bases, models=[self.get_model("DeviceSource")])
