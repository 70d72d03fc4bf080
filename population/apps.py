"""App configuration of population (the population door into the one pipeline)."""

from django.apps import AppConfig


class PopulationConfig(AppConfig):
    name = "population"
    verbose_name = "Population stratification"
    default_auto_field = "django.db.models.BigAutoField"
