"""`manage.py adapt_demo_setup`: the demo's adapted sepsis model awaiting approval (idempotent, a few seconds).

The active sepsis version is recalibrated (Platt, thresholds re-chosen) on the sandbox EHR's 200 PhysioNet set-B
stays (half of them septic, which no real ward is: the demo shows the workflow, not a fit for use), registered as
shadow, and a promotion to active is requested by "demo:site-team"; a second person approves it in Django admin.
The 200 stays give 50 septic stays per half, below the 100 `adapt_model` asks for by default (Vergouwe et al.
2005), so the demo lowers --min-events to DEMO_MIN_EVENTS and its card says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from datasources.catalogue import DEMO_SET_B, SET_B, demo_patients
from scoring.models import ModelVersion, PromotionRequest
from scoring.services_promotion import promotion_request_create
from scoring.training.data import physionet_read

DEMO_MIN_EVENTS = 40
REQUESTER = "demo:site-team"
REASON = (
    "Demo: recalibrated on the sandbox EHR's 200 set-B stays (half septic, not a real case mix); a second "
    "person reviews the evidence and approves or rejects."
)


class Command(BaseCommand):
    """Adapt the active sepsis version on the sandbox's set-B stays and request its promotion (once)."""

    help = "Demo: a recalibrated shadow sepsis version on the sandbox's set-B stays, awaiting a second approval."

    def handle(self, *args: Any, **options: Any) -> None:
        active = ModelVersion.objects.filter(name="sepsis", status=ModelVersion.Status.ACTIVE).first()
        if active is None:
            raise CommandError("no active sepsis version: run install_models first")
        version = f"{active.version}-sandbox-recalibrated"
        mv = ModelVersion.objects.filter(name="sepsis", version=version).first()
        if mv is None:
            mv = self._adapt(version)
        if mv.status == ModelVersion.Status.SHADOW and not mv.promotion_requests.exists():
            promotion_request_create(challenger=mv, target_status="active", requested_by=REQUESTER, reason=REASON)
        pending = mv.promotion_requests.filter(state=PromotionRequest.State.PENDING).count()
        self.stdout.write(f"sepsis {version} ({mv.status}); {pending} promotion request(s) awaiting approval")

    def _adapt(self, version: str) -> ModelVersion:
        call_command(
            "adapt_model",
            "sepsis",
            "--data",
            str(_sandbox_stays()),
            "--method",
            "recalibrate",
            "--min-events",
            str(DEMO_MIN_EVENTS),
            "--model-version",
            version,
            "--by",
            REQUESTER,
            "--reason",
            REASON,
            stdout=self.stdout,
        )
        return ModelVersion.objects.get(name="sepsis", version=version)


def _sandbox_stays() -> Path:
    """The demo's set-B file, or the sandbox's 200 stays taken from the full set B (written once under var/)."""
    data = Path(str(settings.SHARED_DATA))
    if (data / DEMO_SET_B).is_file():
        return data / DEMO_SET_B
    target = Path(settings.LOCAL_ARTIFACTS_DIR).parent / "demo_site" / "sandbox_setB_stays.csv"
    if not target.is_file():
        frame = physionet_read(data / SET_B)[0]
        target.parent.mkdir(parents=True, exist_ok=True)
        frame[frame["patient_id"].isin(demo_patients())].to_csv(target, index=False)
    return target
