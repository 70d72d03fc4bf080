"""`manage.py smart_keys rotate|ensure|list`: our private_key_jwt signing keys (RS384 + ES384)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from smart_launch.keys import client_keys_ensure, client_keys_rotate
from smart_launch.models import ClientKey


class Command(BaseCommand):
    """Make, rotate or list our client signing keys."""

    help = "rotate: retire active keys and make a new RS384 + ES384 pair; ensure: make missing ones; list."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["rotate", "ensure", "list"])

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "rotate":
            made = client_keys_rotate()
        elif options["action"] == "ensure":
            made = client_keys_ensure()
        else:
            made = []
        for key in made:
            self.stdout.write(f"made {key.alg} key {key.kid}")
        for key in ClientKey.objects.all():
            self.stdout.write(f"{key.alg} {key.kid} {'active' if key.active else 'retired ' + str(key.retired_at)}")
