"""Fault injection for retry tests: the next N matching FHIR requests fail on purpose.

See docs/architecture.md#sandbox-fault-injection.

State lives in the Django cache (Redis in tests and multi-process deployments), so a test can arm a
fault that a Celery worker's HTTP call to the live server then meets. The FHIR views call
`fault_take` on every request except the public discovery documents.
"""

from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

_CONFIG_KEY = "sandbox_fhir:fault:config"
_REMAINING_KEY = "sandbox_fhir:fault:remaining"
_TTL_SECONDS = 3600


@dataclass(frozen=True)
class Fault:
    """An armed fault: the status and body to answer with."""

    status: int
    body: dict[str, Any] | None


def fault_inject(
    *, status: int, times: int = 1, methods: tuple[str, ...] | list[str] = ("POST",), body: dict[str, Any] | None = None
) -> None:
    """Make the next `times` FHIR requests with one of `methods` answer `status` (and `body`)."""
    if not 400 <= status <= 599 or times < 1:
        raise ValueError("fault_inject needs an error status (400-599) and times >= 1")
    cache.set(_CONFIG_KEY, {"status": status, "methods": [m.upper() for m in methods], "body": body}, _TTL_SECONDS)
    cache.set(_REMAINING_KEY, times, _TTL_SECONDS)


def fault_clear() -> None:
    """Disarm any fault."""
    cache.delete_many([_CONFIG_KEY, _REMAINING_KEY])


def fault_take(method: str) -> Fault | None:
    """The fault this request must answer with, consuming one of its remaining uses; None if none."""
    config = cache.get(_CONFIG_KEY)
    if not config or method.upper() not in config["methods"]:
        return None
    try:
        remaining = cache.decr(_REMAINING_KEY)
    except ValueError:  # the counter expired or was cleared
        return None
    if remaining < 0:
        fault_clear()
        return None
    if remaining == 0:
        cache.delete(_CONFIG_KEY)
    return Fault(status=int(config["status"]), body=config.get("body"))
