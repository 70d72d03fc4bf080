"""Reads of the monitoring records: each version's latest drift and performance runs, and which versions need
attention (either run's verdict "attention" is a governance finding)."""

from __future__ import annotations

from django.db.models import OuterRef, Q, Subquery

from scoring.models import DriftRun, PerformanceRun

Run = DriftRun | PerformanceRun


def _latest(model: type[Run]) -> dict[tuple[str, str], Run]:
    newest = model.objects.filter(model_name=OuterRef("model_name"), model_version=OuterRef("model_version"))
    newest_id = newest.order_by("-created_at", "-id").values("id")[:1]
    return {(run.model_name, run.model_version): run for run in model.objects.filter(id=Subquery(newest_id))}


def latest_runs() -> dict[tuple[str, str], DriftRun]:
    """The latest drift run of every (model, version) that has one (portable SQL: the embedded default is SQLite,
    which has no DISTINCT ON)."""
    return _latest(DriftRun)  # type: ignore[return-value]


def latest_performance_runs() -> dict[tuple[str, str], PerformanceRun]:
    """The latest performance run of every (model, version) that has one."""
    return _latest(PerformanceRun)  # type: ignore[return-value]


def monitoring_verdict(drift: DriftRun | None, performance: PerformanceRun | None) -> str:
    """One word for a version: "attention" when either latest run found something, else the drift verdict."""
    if any(run is not None and run.verdict == "attention" for run in (drift, performance)):
        return "attention"
    return drift.verdict if drift is not None else "not_checked"


def latest_performance_run(name: str, version: str) -> PerformanceRun | None:
    """The version's latest performance run, if any."""
    runs = PerformanceRun.objects.filter(model_name=name, model_version=version)
    return runs.order_by("-created_at", "-id").first()


def performance_runs_recent(name: str, version: str, limit: int = 30) -> list[PerformanceRun]:
    """The version's last `limit` performance runs, oldest first."""
    runs = PerformanceRun.objects.filter(model_name=name, model_version=version).order_by("-created_at", "-id")
    return list(runs[:limit])[::-1]


def latest_run(name: str, version: str) -> DriftRun | None:
    """The version's latest drift run, if any."""
    return DriftRun.objects.filter(model_name=name, model_version=version).order_by("-created_at", "-id").first()


def runs_recent(name: str, version: str, limit: int = 30) -> list[DriftRun]:
    """The version's last `limit` drift runs, oldest first."""
    runs = DriftRun.objects.filter(model_name=name, model_version=version).order_by("-created_at", "-id")[:limit]
    return list(runs)[::-1]


def previous_run(run: Run) -> Run | None:
    """The run of the same monitor and version just before `run`, if any."""
    earlier = (
        type(run)
        .objects.filter(model_name=run.model_name, model_version=run.model_version)
        .filter(Q(created_at__lt=run.created_at) | Q(created_at=run.created_at, id__lt=run.pk))
    )
    return earlier.order_by("-created_at", "-id").first()
