"""`manage.py realtime_demo_setup`: the demo's alert policies, so a replayed septic stay is told by e-mail too.

Each model the real-time door rescores keeps its default policy (alerts from the high band on), with
DEMO_ALERTS_EMAIL (default ward-team@example.invalid) told of new alerts; the demo's mail backend writes the
messages to var/mail (scripts/demo.sh). Idempotent: a policy that already names recipients is left alone.
Our FHIR Subscriptions at the sandbox EHR are registered by the demo's real-time process once the server
answers (scripts/demo_realtime.sh): the EHR's handshake calls the server back.
"""

import os
from typing import Any

from django.core.management.base import BaseCommand

from alerts.models import AlertPolicy
from alerts.services.policy import alert_policy_update
from realtime.models_read import vitals_models

DEMO_RECIPIENTS = "ward-team@example.invalid"


class Command(BaseCommand):
    help = "Give each real-time model's default alert policy the demo's e-mail recipients (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        recipients = os.environ.get("DEMO_ALERTS_EMAIL") or DEMO_RECIPIENTS
        for model in vitals_models():
            policy = AlertPolicy.objects.filter(model_name=model.name, unit="").first()
            policy = policy or AlertPolicy(model_name=model.name, unit="")
            if not policy.email_to:
                alert_policy_update(
                    policy=policy, changes={"email_to": recipients}, actor="demo_setup", reason="the demo's mailbox"
                )
            self.stdout.write(f"    {model.name}: alerts from the {policy.min_band} band, e-mail to {policy.email_to}")
