"""App configuration for smart_launch."""

from django.apps import AppConfig


class SmartLaunchConfig(AppConfig):
    """SMART launch app."""

    name = "smart_launch"
    verbose_name = "SMART launch"

    def ready(self) -> None:
        """Enabled EHR registrations' FHIR bases are registered outbound bases."""
        from config import outbound
        from smart_launch.selectors import registered_bases

        outbound.source_register(registered_bases, models=[self.get_model("EhrRegistration")])
