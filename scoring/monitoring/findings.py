"""Governance findings of the monitors, and the apps that tell people of them.

A finding opens when a monitor's run of a version (drift: `DriftRun`; performance: `PerformanceRun`) has the
verdict "attention" and that monitor's previous run of the version did not. It stays open while later runs find
it again (the version shows "attention needed": `scoring.monitoring.selectors.monitoring_verdict` reads the
latest runs) and closes with the first run that does not. So a finding is its opening run, announced once.

Scoring sits below the apps that tell people (the alerts app's notification channels), so they register a
listener, called once for each run that opens a finding, after the run is stored:

    listener(finding: Finding) -> None

A listener only queues its work (the alerts app sends from a Celery task), so a monitor run never waits on a
mail server or a webhook.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from scoring.models import DriftRun, PerformanceRun
from scoring.monitoring.selectors import Run, previous_run

MONITORS: dict[str, type[DriftRun] | type[PerformanceRun]] = {"drift": DriftRun, "performance": PerformanceRun}
ATTENTION = "attention"


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding: the monitor and run that opened it, the version, the window, and what was found, in words."""

    monitor: str
    run_id: int
    model_name: str
    model_version: str
    opened_at: datetime
    window_start: datetime
    window_end: datetime
    what: tuple[str, ...]


FindingListener = Callable[[Finding], None]
_LISTENERS: dict[str, FindingListener] = {}


def finding_listener_register(name: str, listener: FindingListener) -> None:
    """Add (or replace) the listener `name`."""
    _LISTENERS[name] = listener


def monitor_of(run: Run) -> str:
    """ "drift" or "performance"."""
    return "drift" if isinstance(run, DriftRun) else "performance"


def opens_finding(run: Run) -> bool:
    """Whether `run` opens a finding (see the module docstring)."""
    if run.verdict != ATTENTION:
        return False
    previous = previous_run(run)
    return previous is None or previous.verdict != ATTENTION


def what_was_found(run: Run) -> tuple[str, ...]:
    """A drift run's major changes and flagged count; a performance run's thresholds crossed, in words."""
    if isinstance(run, PerformanceRun):
        return tuple(b["text"] for b in run.breaches)
    major = [name for name, column in run.results.items() if column.get("major")]
    found = [f"major change: {', '.join(major)}"] if major else []
    return (*found, f"{len(run.flagged)} of {len(run.results)} columns flagged")


def finding_of(run: Run) -> Finding:
    """The finding `run` opened."""
    return Finding(
        monitor=monitor_of(run),
        run_id=run.pk,
        model_name=run.model_name,
        model_version=run.model_version,
        opened_at=run.created_at,
        window_start=run.window_start,
        window_end=run.window_end,
        what=what_was_found(run),
    )


def finding_get(monitor: str, run_id: int) -> Finding:
    """The finding the run `run_id` of `monitor` opened (read again, e.g. by a task given the ids)."""
    return finding_of(MONITORS[monitor].objects.get(pk=run_id))


def finding_announce(run: Run) -> bool:
    """Tell every listener when `run` opens a finding; whether it did."""
    if not opens_finding(run):
        return False
    finding = finding_of(run)
    for listener in _LISTENERS.values():
        listener(finding)
    return True
