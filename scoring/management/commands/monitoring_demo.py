"""`manage.py monitoring_demo`: serve the sandbox's set-B stays, take in their outcomes, run the monitors."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from scoring.models import DriftRun
from scoring.monitoring.demo import ACTOR, monitoring_demo


class Command(BaseCommand):
    """The demo's monitoring page: a drift finding (set B against the set-A reference) and a performance run."""

    help = "Score the demo's set-B stays, import their outcomes and run the monitors (once; a demo_setup step)."

    def handle(self, *args: Any, **options: Any) -> None:
        if DriftRun.objects.filter(run_by=ACTOR).exists():
            self.stdout.write("monitoring demo: already run (see /models/)")
            return
        started = time.monotonic()
        runs = monitoring_demo()
        if runs is None:
            self.stdout.write("monitoring demo: no active sepsis version (run install_models first)")
            return
        drift, performance = runs
        self.stdout.write(
            f"monitoring demo: {drift.rows} served; drift {drift.verdict} ({len(drift.flagged)} columns), "
            f"performance {performance.verdict} ({performance.rows} labelled) in {time.monotonic() - started:.1f} s: "
            f"/models/{drift.model_name}/{drift.model_version}/monitoring/"
        )
