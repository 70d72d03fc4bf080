"""Model-registry readiness for /readyz and manage.py check."""
from typing import Any


def registry_status() -> dict[str, Any]:
    """Report the registry; replaced by the real registry check once models are registered."""
    return {"status": "ok", "required": True, "models": []}
