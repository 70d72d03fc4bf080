"""Reads of the monitoring records: each version's latest drift run, and which versions need attention."""

from __future__ import annotations

from scoring.models import DriftRun


def latest_runs() -> dict[tuple[str, str], DriftRun]:
    """The latest drift run of every (model, version) that has one."""
    latest: dict[tuple[str, str], DriftRun] = {}
    for run in DriftRun.objects.order_by("model_name", "model_version", "-created_at", "-id").distinct(
        "model_name", "model_version"
    ):
        latest[(run.model_name, run.model_version)] = run
    return latest


def latest_run(name: str, version: str) -> DriftRun | None:
    """The version's latest drift run, if any."""
    return DriftRun.objects.filter(model_name=name, model_version=version).order_by("-created_at", "-id").first()


def runs_recent(name: str, version: str, limit: int = 30) -> list[DriftRun]:
    """The version's last `limit` drift runs, oldest first."""
    runs = DriftRun.objects.filter(model_name=name, model_version=version).order_by("-created_at", "-id")[:limit]
    return list(runs)[::-1]
