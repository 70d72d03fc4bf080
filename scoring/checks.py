"""`manage.py check`: an active/canary model whose artifact, checksum or feature spec does not match is an error."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.db import DatabaseError

from scoring.readiness import version_problems


@checks.register(checks.Tags.models, deploy=False)
def model_registry_check(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Report serving model versions that cannot load (spec version, feature order, checksum, files).

    Without onnxruntime (`load=False`): this runs in gunicorn's and Celery's parent processes, which fork.
    """
    try:
        problems = [m for m in version_problems(load=False) if not m["ready"]]
    except DatabaseError:  # no database yet (before migrate): nothing registered to check
        return []
    level = {"active": checks.Error, "canary": checks.Error, "shadow": checks.Warning}
    return [
        level[m["status"]](
            f"Model {m['name']} {m['version']} ({m['status']}) is not ready: {m['problem']}",
            hint="Re-train with `manage.py train_model`, or retire this version.",
            id="scoring.E001" if m["status"] != "shadow" else "scoring.W001",
        )
        for m in problems
    ]
