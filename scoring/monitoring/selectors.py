"""Reads of the monitoring records: each version's latest drift run, and which versions need attention."""

from __future__ import annotations

from django.db.models import OuterRef, Subquery

from scoring.models import DriftRun


def latest_runs() -> dict[tuple[str, str], DriftRun]:
    """The latest drift run of every (model, version) that has one (portable SQL: the embedded default is SQLite,
    which has no DISTINCT ON)."""
    newest = DriftRun.objects.filter(model_name=OuterRef("model_name"), model_version=OuterRef("model_version"))
    newest_id = newest.order_by("-created_at", "-id").values("id")[:1]
    runs = DriftRun.objects.filter(id=Subquery(newest_id))
    return {(run.model_name, run.model_version): run for run in runs}


def latest_run(name: str, version: str) -> DriftRun | None:
    """The version's latest drift run, if any."""
    return DriftRun.objects.filter(model_name=name, model_version=version).order_by("-created_at", "-id").first()


def runs_recent(name: str, version: str, limit: int = 30) -> list[DriftRun]:
    """The version's last `limit` drift runs, oldest first."""
    runs = DriftRun.objects.filter(model_name=name, model_version=version).order_by("-created_at", "-id")[:limit]
    return list(runs)[::-1]
