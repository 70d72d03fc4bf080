"""`manage.py sandbox_groups`: create or refresh the sandbox's demo Groups (ICU, Diabetes clinic)."""

from typing import Any

from django.core.management.base import BaseCommand

from sandbox_ehr.fhir.groups import demo_groups_store


class Command(BaseCommand):
    help = "Create or refresh the sandbox EHR's demo Groups (ICU, Diabetes clinic) for Bulk Data export."

    def handle(self, *args: Any, **options: Any) -> None:
        """Store the Groups and print their sizes."""
        counts = demo_groups_store()
        self.stdout.write("sandbox groups: " + ", ".join(f"{gid} ({n} patients)" for gid, n in counts.items()))
