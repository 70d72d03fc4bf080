"""HTML model pages: the registry at /models/ and each version's card at /models/<name>/<version>/."""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from scoring.catalogue import definition
from scoring.errors import ModelNotFound
from scoring.readiness import version_problems
from scoring.selectors import model_version_get, model_versions_all
from scoring.serving.registry import resolve_path
from scoring.training.card import card_markdown_sections, external_metrics

EXTERNAL_SETS = {"external_set_b": "PhysioNet set B (unseen hospital)",
                 "external_heldout_patients": "held-out patients"}


def _hooks(name: str) -> tuple[str, ...]:
    model = definition(name)
    return model.hooks if model is not None else ()


def _requirements(name: str) -> Any:
    model = definition(name)
    return model.requirements if model is not None else None


@require_GET
def model_index(request: HttpRequest) -> HttpResponse:
    """Every registered version with its status, readiness and headline external metrics, linking its card."""
    states = {(m["name"], m["version"]): m for m in version_problems()}
    rows = []
    for mv in model_versions_all():
        key, metrics = external_metrics(mv.card or {})
        rows.append({"mv": mv, "state": states.get((mv.name, mv.version)), "hooks": _hooks(mv.name),
                     "external_set": EXTERNAL_SETS.get(key or "", (key or "").removeprefix("external_")),
                     "external": metrics})
    return render(request, "scoring/model_index.html", {"rows": rows})


@require_GET
def model_card(request: HttpRequest, name: str, version: str) -> HttpResponse:
    """The card of one registered version: metrics, thresholds, provider, inputs."""
    mv = model_version_get(name, version)
    if mv is None:
        raise ModelNotFound(f"No model {name} {version}.")
    state = next((m for m in version_problems() if m["name"] == name and m["version"] == version), None)
    policy = getattr(mv, "policy", None)
    context = {"mv": mv, "card": mv.card or {}, "policy": policy, "state": state, "hooks": _hooks(name),
               "requirements": _requirements(name),
               "sections": card_markdown_sections(mv.card or {}),
               "changes": list(policy.changes.all()[:20]) if policy else [],
               "has_reliability": mv.kind == "ml" and "reliability.png" in (mv.card or {}).get("artifacts", [])}
    return render(request, "scoring/model_card.html", context)


@require_GET
def reliability_png(request: HttpRequest, name: str, version: str) -> HttpResponse:
    """The reliability diagram shipped with the artifact."""
    mv = model_version_get(name, version)
    if mv is None or mv.kind != "ml":
        raise ModelNotFound(f"No model {name} {version}.")
    path = resolve_path(mv.artifact_path) / "reliability.png"
    if not path.is_file():
        raise ModelNotFound("No reliability diagram for this version.")
    return HttpResponse(path.read_bytes(), content_type="image/png")
