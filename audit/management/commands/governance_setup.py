"""`manage.py governance_setup`: the clinician / admin / auditor groups with least privilege (idempotent)."""

from django.core.management.base import BaseCommand

from audit.governance import governance_groups_setup


class Command(BaseCommand):
    """Creates the groups or resets them to exactly their permissions."""

    help = "Create the clinician, admin and auditor groups with least-privilege permissions (idempotent)."

    def handle(self, *args: object, **options: object) -> None:
        for name, count in governance_groups_setup().items():
            self.stdout.write(f"    group {name}: {count} permissions")
