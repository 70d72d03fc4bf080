"""Alert burden and PPV of a model version: the alerts its scores raised, wherever they were raised.

Apps that raise alerts register a source with `alert_source_register` (the CDS door does, from its issued
cards and their feedback: `cds_hooks.selectors.card_alerts`; an alerts app registers its own the same way).
Scoring cannot import those apps (they sit above it), so they hand their alerts in through this one signature:

    source(*, model_name: str, model_version: str, since: datetime, until: datetime) -> list[AlertEvent]

The burden is alerts per 100 patients the version scored in the window; the PPV is the share of labelled
alerts (their score's label, `scoring.monitoring.labels`) after which the outcome came within the horizon,
with its 95 % Clopper-Pearson interval (scipy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from scipy.stats import binomtest


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One alert raised from a score: the patient's pseudonym, the score's as-of time, when it was raised, and
    the clinician's feedback (True accepted, False overridden, None none)."""

    patient_pseudonym: str
    as_of: datetime
    raised_at: datetime
    accepted: bool | None


class AlertSource(Protocol):
    """What an app that raises alerts registers."""

    def __call__(self, *, model_name: str, model_version: str, since: datetime, until: datetime) -> list[AlertEvent]:
        """The version's alerts raised in [since, until)."""
        ...


_SOURCES: dict[str, AlertSource] = {}


def alert_source_register(name: str, source: AlertSource) -> None:
    """Add (or replace) the alert source `name`."""
    _SOURCES[name] = source


def alert_events(*, model_name: str, model_version: str, since: datetime, until: datetime) -> list[AlertEvent]:
    """Every registered source's alerts of the version in [since, until)."""
    return [
        event
        for source in _SOURCES.values()
        for event in source(model_name=model_name, model_version=model_version, since=since, until=until)
    ]


def alert_summary(
    events: list[AlertEvent], scored_patients: int, label_of: Callable[[AlertEvent], int]
) -> dict[str, Any]:
    """Burden (per 100 scored patients), feedback shares and PPV with its interval."""
    labels = [label_of(e) for e in events]
    labelled = [v for v in labels if v in (0, 1)]
    hits = sum(labelled)
    summary: dict[str, Any] = {
        "alerts": len(events),
        "patients_scored": scored_patients,
        "alerts_per_100": 100 * len(events) / scored_patients if scored_patients else None,
        "accepted": sum(e.accepted is True for e in events),
        "overridden": sum(e.accepted is False for e in events),
        "labelled": len(labelled),
        "ppv": {"value": hits / len(labelled) if labelled else None, "ci": None},
    }
    if labelled:
        ci = binomtest(hits, len(labelled)).proportion_ci(0.95)
        summary["ppv"]["ci"] = [float(ci.low), float(ci.high)]
    return summary
