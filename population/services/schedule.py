"""Nightly runs: each cohort's run starts at its `schedule_time` (UTC), once per night, keyed by the date.

Beat calls `population.schedule_due` every few minutes (CELERY_BEAT_SCHEDULE); the time of a cohort is
edited in admin (audited). A missed beat only delays the run; the (cohort, night) key never starts two.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction

from config.errors import Conflict
from population.models import Cohort, PopulationRun
from population.services.runs import run_start


def cohorts_due_start(now: datetime) -> list[PopulationRun]:
    """Start the runs due at `now`; the runs started."""
    started = []
    for cohort in Cohort.objects.filter(schedule_enabled=True, schedule_time__lte=now.time()):
        if cohort.runs.filter(scheduled_for=now.date()).exists():
            continue
        try:
            with transaction.atomic():
                started.append(
                    run_start(cohort=cohort, trigger=PopulationRun.Trigger.SCHEDULE, scheduled_for=now.date())
                )
        except (IntegrityError, Conflict):
            continue  # another beat started it, or a manual run is still going: the next beat tries again
    return started
