"""`manage.py sandbox_setup`: sandbox OAuth clients, signing keys, and the simulator as a trusted CDS client."""

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from sandbox_ehr.auth import endpoints
from sandbox_ehr.auth.models import SigningKey
from sandbox_ehr.auth.setup import client_ensure, client_specs
from sandbox_ehr.auth.signing import signing_key_ensure
from sandbox_ehr.fhir.subscription_topics import topics_publish


class Command(BaseCommand):
    """Idempotent: run it again after changing PUBLIC_BASE_URL to update every URL."""

    help = "Register the sandbox EHR's SMART clients and keys, and trust the simulator as a CDS client."

    def handle(self, *args: Any, **options: Any) -> None:
        """Clients, then keys, then the CDS trust registration (which fails loudly if impossible)."""
        for spec in client_specs():
            created = client_ensure(spec)
            self.stdout.write(f"client {spec.client_id}: {'created' if created else 'up to date'}")
        for purpose in (SigningKey.Purpose.ID_TOKEN, SigningKey.Purpose.CDS_CLIENT):
            row, created = signing_key_ensure(purpose)
            self.stdout.write(f"key {purpose} {row.alg} kid={row.kid}: {'created' if created else 'kept'}")
        self.stdout.write(f"JWKS: {endpoints.jwks_url()}")
        self.stdout.write(f"subscription topics: {topics_publish()} written")
        try:
            call_command(
                "cds_client",
                "add",
                "--iss",
                endpoints.ehr_issuer(),
                "--jwks-url",
                endpoints.jwks_url(),
                "--fhir-server",
                endpoints.fhir_base(),
                stdout=self.stdout,
            )
        except CommandError as exc:
            raise CommandError(
                f"Could not register the EHR simulator ({endpoints.ehr_issuer()}) as a trusted "
                f"CDS client with `cds_client add`: {exc}"
            ) from exc
        self.stdout.write(self.style.SUCCESS(f"trusted CDS client: {endpoints.ehr_issuer()}"))
