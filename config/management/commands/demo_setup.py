"""`manage.py demo_setup`: everything the embedded demo needs after migrate (idempotent)."""

import os
import secrets
import shlex
from collections.abc import Callable
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

DEMO_ADMIN = "admin"


class Command(BaseCommand):
    """Creates the demo admin and runs each app's demo step in order."""

    help = "Prepare the embedded demo: admin user, sandbox data, models, trusted CDS client."

    def handle(self, *args: object, **options: object) -> None:
        if getattr(settings, "STRATIFY_PRODUCTION", False):
            raise CommandError("demo_setup is for the embedded demo only, not production settings.")
        for label, step in self._steps():
            self.stdout.write(f"==> {label}")
            step()

    def _steps(self) -> list[tuple[str, Callable[[], object]]]:
        steps: list[tuple[str, Callable[[], object]]] = [("demo admin user", self._admin)]
        steps += [(label, partial(call_command, *shlex.split(command))) for label, command in _app_steps()]
        return steps

    def _admin(self) -> None:
        user_model = get_user_model()
        existing = user_model.objects.filter(username=DEMO_ADMIN).first()
        if existing is not None:
            self._admin_exists(existing)
            return
        password = os.environ.get("DEMO_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        user_model.objects.create_superuser(DEMO_ADMIN, "admin@example.invalid", password)
        self.stdout.write(
            self.style.WARNING(
                f"    created admin user '{DEMO_ADMIN}' with password: {password}  (set DEMO_ADMIN_PASSWORD to choose)"
            )
        )

    def _admin_exists(self, user: Any) -> None:
        """Keep the admin; set DEMO_ADMIN_PASSWORD when given, else say how to get back in."""
        password = os.environ.get("DEMO_ADMIN_PASSWORD")
        if password:
            user.set_password(password)
            user.save(update_fields=["password"])
            self.stdout.write(f"    admin user '{DEMO_ADMIN}' exists; its password is now DEMO_ADMIN_PASSWORD")
            return
        self.stdout.write(
            self.style.WARNING(
                f"    admin user '{DEMO_ADMIN}' exists (its password was printed when it was created). Forgot it? "
                f"Run: .venv/bin/python manage.py changepassword {DEMO_ADMIN}  (or set DEMO_ADMIN_PASSWORD and run "
                "make demo again)"
            )
        )


def _app_steps() -> list[tuple[str, str]]:
    """Management commands each app contributes to the demo, in dependency order."""
    return list(getattr(settings, "DEMO_SETUP_COMMANDS", []))
