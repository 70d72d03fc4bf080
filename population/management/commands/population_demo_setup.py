"""`manage.py population_demo_setup`: the demo cohorts (sandbox Groups ICU and Diabetes clinic), idempotent."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from population.models import Cohort
from smart_launch.models import EhrRegistration

DEMO_COHORTS = (
    ("icu", "ICU", "icu", ["sepsis", "news2", "qsofa"]),
    ("diabetes-clinic", "Diabetes clinic", "diabetes-clinic", ["readmission"]),
)


class Command(BaseCommand):
    help = "Create the demo cohorts of the sandbox EHR (nightly at 02:00 UTC, write-back off)."

    def handle(self, *args: Any, **options: Any) -> None:
        """Create or update each demo cohort for the sandbox's registration."""
        registration = EhrRegistration.objects.get(iss=f"{settings.PUBLIC_BASE_URL}/sandbox/fhir")
        for slug, title, group, models in DEMO_COHORTS:
            Cohort.objects.update_or_create(
                slug=slug,
                defaults={
                    "title": title,
                    "registration": registration,
                    "group_id": group,
                    "model_names": models,
                    "patient_url_template": f"{settings.PUBLIC_BASE_URL}/sandbox/ehr/patients/{{patient_id}}",
                },
            )
            self.stdout.write(f"cohort {slug}: {settings.PUBLIC_BASE_URL}/population/{slug}/ (and /dashboard)")
