"""App configuration for scoring."""

from django.apps import AppConfig


class ScoringConfig(AppConfig):
    """Scoring app."""

    name = "scoring"
    verbose_name = "Scoring"

    def ready(self) -> None:
        """Register the system checks."""
        from scoring import checks  # noqa: F401
