"""Model-registry readiness for /readyz and manage.py check: every serving ML version must load and match."""

from __future__ import annotations

from typing import Any

from scoring.models import ModelVersion
from scoring.monitoring.selectors import latest_performance_runs, latest_runs, monitoring_verdict
from scoring.serving import registry

SERVING = (ModelVersion.Status.ACTIVE, ModelVersion.Status.CANARY, ModelVersion.Status.SHADOW)
REQUIRED = (ModelVersion.Status.ACTIVE, ModelVersion.Status.CANARY)  # a shadow that fails is only reported


def version_problems(*, load: bool = True) -> list[dict[str, Any]]:
    """One entry per serving version: name, version, status, ready, provider, and the problem if any; ML versions
    also their monitoring verdict ("attention" when the latest drift or performance run found something: it needs
    a look, it does not make the version unready).

    `load=False` checks the artifacts without onnxruntime (provider None): for process start-up checks.
    """
    out: list[dict[str, Any]] = []
    runs, performance = latest_runs(), latest_performance_runs()
    for mv in ModelVersion.objects.filter(status__in=SERVING).order_by("name", "version"):
        entry: dict[str, Any] = {"name": mv.name, "version": mv.version, "status": mv.status, "kind": mv.kind}
        if mv.kind == ModelVersion.Kind.RULE:
            out.append({**entry, "ready": True, "provider": "rule"})
            continue
        try:
            entry["monitoring"] = monitoring_verdict(
                runs.get((mv.name, mv.version)), performance.get((mv.name, mv.version))
            )
            provider = _provider(mv, load)
            out.append({**entry, "ready": True, "provider": provider})
        except Exception as exc:  # a readiness probe reports, never raises
            out.append({**entry, "ready": False, "provider": None, "problem": str(exc)[:300]})
    return out


def _provider(mv: ModelVersion, load: bool) -> str | None:
    if not load:
        registry.inspect(mv.name, mv.artifact_path, mv.sha256)
        return None
    return registry.load(mv.name, mv.version, mv.artifact_path, mv.sha256).provider


NO_ACTIVE_MODEL = (
    "no model version is active, so no CDS service is published: run `manage.py production_setup` (or `install_models`)"
)


def registry_status() -> dict[str, Any]:
    """/readyz component: 'down' when no version is active or an active or canary one cannot serve (shadows are
    only reported)."""
    models = version_problems()
    if not any(m["status"] == ModelVersion.Status.ACTIVE for m in models):
        return {"status": "down", "required": True, "models": models, "detail": NO_ACTIVE_MODEL}
    down = [m for m in models if not m["ready"] and m["status"] in REQUIRED]
    return {"status": "down" if down else "ok", "required": True, "models": models}
