"""App config for project-level pieces (system checks, worker heap freezing)."""

from django.apps import AppConfig


class ConfigAppConfig(AppConfig):
    """Registers the project's system checks."""

    name = "config"
    label = "stratify_config"
    verbose_name = "Stratify configuration"

    def ready(self) -> None:
        from config import checks  # noqa: F401  (registers the checks)
