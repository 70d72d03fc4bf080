"""`manage.py subscriptions register|verify`: our FHIR Subscriptions at the EHRs (realtime.subscriptions)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import ApplicationError
from realtime.subscription_models import EhrSubscription
from realtime.subscriptions import subscription_recover, subscriptions_ensure
from smart_launch.models import EhrRegistration


class Command(BaseCommand):
    """`register`: write missing or refused subscriptions; `verify`: ask each EHR `$status` and recover."""

    help = "Register our FHIR Subscriptions with each enabled EHR registration, or verify them ($status)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["register", "verify"])
        parser.add_argument("--iss", help="only the EHR registration with this FHIR base URL")

    def handle(self, *args: Any, **options: Any) -> None:
        registrations = EhrRegistration.objects.filter(enabled=True)
        if options["iss"]:
            registrations = registrations.filter(iss=options["iss"])
        if not registrations.exists():
            raise CommandError("No enabled EHR registration matches.")
        try:
            for registration in registrations:
                if options["action"] == "register":
                    subscriptions_ensure(registration)
                for subscription in EhrSubscription.objects.filter(registration=registration):
                    if options["action"] == "verify":
                        subscription = subscription_recover(subscription.pk, "verify")
                    self.stdout.write(self._line(subscription))
        except ApplicationError as exc:
            raise CommandError(f"{exc.message} {exc.extra or ''}".strip()) from exc

    def _line(self, subscription: EhrSubscription) -> str:
        return (
            f"{subscription.registration.iss} {subscription.topic}: {subscription.status}, "
            f"id {subscription.remote_id or '-'}, {subscription.events_through} events"
        )
