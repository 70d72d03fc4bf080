"""Reads of alerts: a unit's open alerts for the inbox, and the measured attention per model and unit.

`alert_attention(since=..., until=...)` is the function the monitoring work calls: per model and unit, alerts
per monitored patient-day, median time to acknowledge, the shares acknowledged / resolved / expired / escalated,
and PPV only where outcomes were recorded (`alerts.services.alert_outcome_record`), else "no outcomes yet".
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from alerts.models import BAND_RANK, Alert, MonitoredPatientDay
from config.keys import decrypt_text
from scoring.presentation import age_text, clock_text

NO_OUTCOMES = "no outcomes yet"


def inbox_units() -> list[str]:
    """Units with open alerts, then every other unit that ever had one."""
    open_units = set(Alert.objects.filter(status__in=Alert.OPEN).values_list("unit", flat=True))
    every = set(Alert.objects.values_list("unit", flat=True).distinct())
    return sorted(open_units) + sorted(every - open_units)


def inbox_alerts(unit: str) -> QuerySet[Alert]:
    """The unit's open alerts: waiting for acknowledgement first (highest band, oldest first), then the rest."""
    return Alert.objects.filter(unit=unit, status__in=Alert.OPEN).order_by("-created_at")


def inbox_rows(unit: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """What the inbox shows of each open alert, in worklist order."""
    now = now or timezone.now()
    rows = [_row(alert, now) for alert in inbox_alerts(unit)]
    return sorted(rows, key=lambda r: (not r["waiting"], -BAND_RANK.get(r["band"], 0), r["created_at"]))


def _row(alert: Alert, now: datetime) -> dict[str, Any]:
    # the age of its newest input now, as the clinician reads the inbox (the drivers keep their ages at scoring)
    data_age = age_text((now - alert.data_time).total_seconds() / 3600) if alert.data_time else "no data"
    return {
        "id": alert.pk,
        "status": alert.status,
        "waiting": alert.status in Alert.AWAITING_ACK,
        "patient": decrypt_text(alert.patient_ref_encrypted),
        "title": alert.title,
        "band": alert.band,
        "score": alert.score_text,
        "summary": alert.summary,
        "drivers": [d["text"] for d in alert.drivers if not d.get("context")][:3],
        "data_age": data_age,
        "as_of_text": clock_text(alert.as_of),
        "model_version": alert.model_version,
        "created_at": alert.created_at,
        "created_text": clock_text(alert.created_at),
        "open_for": age_text((now - alert.created_at).total_seconds() / 3600).removesuffix(" ago"),
        "snoozed_until": clock_text(alert.snoozed_until) if alert.snoozed_until else "",
        "snooze_reason": alert.snooze_reason,
        "acknowledged_by": alert.acknowledged_by,
    }


@dataclass(frozen=True, slots=True)
class Attention:
    """The burden and use of one model's alerts on one unit over a window."""

    model_name: str
    unit: str
    alerts: int
    patient_days: int
    median_ack_minutes: float | None
    acknowledged: float | None  # shares of the window's alerts (None: no alerts)
    resolved: float | None
    expired: float | None
    escalated: float | None
    outcomes_known: int
    ppv: float | None  # None: no outcomes recorded

    @property
    def per_patient_day(self) -> float | None:
        """Alerts per monitored patient-day (None: nobody monitored)."""
        return self.alerts / self.patient_days if self.patient_days else None

    @property
    def ppv_text(self) -> str:
        """PPV as a percentage with its denominator, or "no outcomes yet"."""
        if self.ppv is None:
            return NO_OUTCOMES
        return f"{self.ppv:.0%} of {self.outcomes_known}"


def alert_attention(*, since: datetime, until: datetime) -> list[Attention]:
    """Per (model, unit) with alerts or monitored patients in [since, until): the measured attention."""
    alerts: dict[tuple[str, str], list[Alert]] = defaultdict(list)
    for alert in Alert.objects.filter(created_at__gte=since, created_at__lt=until).only(*_FIELDS):
        alerts[(alert.model_name, alert.unit)].append(alert)
    days: dict[tuple[str, str], int] = defaultdict(int)
    monitored = MonitoredPatientDay.objects.filter(day__gte=since.date(), day__lt=until.date() + timedelta(days=1))
    for model_name, unit in monitored.values_list("model_name", "unit"):
        days[(model_name, unit)] += 1
    return [_attention(key, alerts.get(key, []), days.get(key, 0)) for key in sorted({*alerts, *days})]


_FIELDS = ("model_name", "unit", "status", "created_at", "acknowledged_at", "escalated_at", "outcome_occurred")


def _attention(key: tuple[str, str], alerts: list[Alert], patient_days: int) -> Attention:
    n = len(alerts)
    waits = [(a.acknowledged_at - a.created_at).total_seconds() / 60 for a in alerts if a.acknowledged_at]
    known = [a.outcome_occurred for a in alerts if a.outcome_occurred is not None]

    def share(count: int) -> float | None:
        return count / n if n else None

    return Attention(
        model_name=key[0],
        unit=key[1],
        alerts=n,
        patient_days=patient_days,
        median_ack_minutes=statistics.median(waits) if waits else None,
        acknowledged=share(sum(1 for a in alerts if a.acknowledged_at)),
        resolved=share(sum(1 for a in alerts if a.status == Alert.Status.RESOLVED)),
        expired=share(sum(1 for a in alerts if a.status == Alert.Status.EXPIRED)),
        escalated=share(sum(1 for a in alerts if a.escalated_at)),
        outcomes_known=len(known),
        ppv=sum(known) / len(known) if known else None,
    )
