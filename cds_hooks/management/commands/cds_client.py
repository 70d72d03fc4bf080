"""`manage.py cds_client add|list|disable`: register the CDS Clients (EHRs) whose JWTs we trust."""

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cds_hooks.models import TrustedCdsClient
from cds_hooks.services.clients import trusted_client_disable, trusted_client_upsert
from config.errors import ValidationFailed


class Command(BaseCommand):
    """Add (idempotent: updates an existing iss), list or disable trusted CDS clients."""

    help = (
        "Manage trusted CDS clients: add --iss ISS (--jwks-url URL | --jwks-file FILE) [--tenant T] "
        "[--fhir-server BASE ...]; list; disable"
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Sub-commands add, list and disable."""
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="register or update a client")
        add.add_argument("--iss", required=True)
        keys = add.add_mutually_exclusive_group(required=True)
        keys.add_argument("--jwks-url")
        keys.add_argument("--jwks-file", type=Path)
        add.add_argument("--tenant", default="")
        add.add_argument(
            "--fhir-server",
            action="append",
            default=[],
            dest="fhir_servers",
            help="a FHIR base URL of the client's EHR (repeat for several); hooks naming any "
            "other fhirServer are refused",
        )
        sub.add_parser("list", help="list clients")
        disable = sub.add_parser("disable", help="refuse a client's calls from now on")
        disable.add_argument("--iss", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        """Dispatch to the sub-command."""
        action = options["action"]
        if action == "add":
            self._add(options)
        elif action == "list":
            self._list()
        elif not trusted_client_disable(iss=options["iss"]):
            raise CommandError(f"No trusted CDS client with iss {options['iss']}.")
        else:
            self.stdout.write(f"disabled {options['iss']}")

    def _add(self, options: dict[str, Any]) -> None:
        jwks = None
        if options["jwks_file"]:
            try:
                jwks = json.loads(options["jwks_file"].read_text())
            except (OSError, ValueError) as exc:
                raise CommandError(f"Cannot read a JWKS from {options['jwks_file']}: {exc}") from exc
        try:
            client, created = trusted_client_upsert(
                iss=options["iss"],
                jwks_url=options["jwks_url"] or "",
                jwks=jwks,
                tenant=options["tenant"],
                fhir_servers=options["fhir_servers"],
            )
        except ValidationFailed as exc:
            raise CommandError(f"{exc.message} {exc.extra or ''}".strip()) from exc
        self.stdout.write(f"{'added' if created else 'updated'} {client.iss}")

    def _list(self) -> None:
        for c in TrustedCdsClient.objects.all():
            keys = c.jwks_url or f"inline JWKS ({len((c.jwks or {}).get('keys', []))} keys)"
            state = "enabled" if c.enabled else "disabled"
            servers = " ".join(c.fhir_server_list) or "no FHIR server"
            self.stdout.write(f"{c.iss}\t{keys}\t{c.tenant or '-'}\t{servers}\t{state}")
