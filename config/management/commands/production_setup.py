"""`manage.py production_setup`: what a production install needs after migrate (idempotent), and what is missing."""

import shlex
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    """Checks the environment, runs each app's production step, then lists what an operator must still add."""

    help = (
        "Install the shipped models, create the governance groups and our signing keys (idempotent), then "
        "print what is still missing: keys in the environment, the EHR registration, trusted CDS clients."
    )
    requires_system_checks: list[str] = []  # it reports the failing checks itself, as things still to do

    def handle(self, *args: Any, **options: Any) -> None:
        problems = environment_problems()
        if problems:
            raise CommandError(
                "Set these in the environment first (nothing was changed):\n" + "\n".join(f"  - {p}" for p in problems)
            )
        for label, command in settings.PRODUCTION_SETUP_COMMANDS:
            self.stdout.write(f"==> {label}")
            call_command(*shlex.split(command), stdout=self.stdout)
        todo = still_missing()
        for line in todo:
            self.stdout.write(self.style.WARNING(f"still missing: {line}"))
        if not todo:
            self.stdout.write(self.style.SUCCESS("production setup complete"))


def environment_problems() -> list[str]:
    """The production checks' errors (secrets, keys, hosts, HTTPS URL), each with its hint."""
    errors = [m for m in checks.run_checks(tags=[checks.Tags.security]) if m.level >= checks.ERROR]
    return [f"{m.msg} {m.hint or ''}".strip() for m in errors]


def still_missing() -> list[str]:
    """What no command can do for the operator: one line per kind of record that does not exist yet."""
    return [todo for label, todo in settings.PRODUCTION_SETUP_TODO if not apps.get_model(label).objects.exists()]
