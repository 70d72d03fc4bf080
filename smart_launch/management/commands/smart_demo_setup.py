"""`manage.py smart_demo_setup`: our client keys and the sandbox EHR's registration (idempotent)."""

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand

from smart_launch.keys import client_keys_ensure
from smart_launch.models import EhrRegistration


class Command(BaseCommand):
    """Keys if none; register {PUBLIC_BASE_URL}/sandbox/fhir as `stratify-sidebar` (confidential-asymmetric)."""

    help = "Create our SMART client keys (if none) and register the sandbox EHR."

    def handle(self, *args: Any, **options: Any) -> None:
        for key in client_keys_ensure():
            self.stdout.write(f"made {key.alg} client key {key.kid}")
        base = settings.PUBLIC_BASE_URL
        parts = urlsplit(base)
        registration, created = EhrRegistration.objects.update_or_create(
            iss=f"{base}/sandbox/fhir",
            defaults={
                "name": "Sandbox EHR",
                "client_id": settings.SMART_SIDEBAR_CLIENT_ID,
                "client_type": EhrRegistration.ClientType.CONFIDENTIAL_ASYMMETRIC,
                "frame_ancestors": f"{parts.scheme}://{parts.netloc}",
                "enabled": True,
            },
        )
        self.stdout.write(
            f"{'registered' if created else 'updated'} {registration.iss} "
            f"as {registration.client_id}; JWKS at {base}/.well-known/jwks.json"
        )
