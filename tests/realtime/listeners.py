"""Score listeners of the tests: one keeps every call it receives, the others fail (always, or for some patients)."""

from typing import Any

CALLS: list[dict[str, Any]] = []


def capture(**kwargs: Any) -> None:
    """Record the keyword arguments of one call."""
    CALLS.append(kwargs)


def failing(**kwargs: Any) -> None:
    """A listener that fails: the rescore it was called in must roll back."""
    raise RuntimeError("listener failed")


FAIL_FOR: set[str] = set()  # patient ids `failing_for` fails for


def failing_for(**kwargs: Any) -> None:
    """A listener that fails for the patients in FAIL_FOR (their rescore must roll back, nobody else's)."""
    if kwargs["patient_id"] in FAIL_FOR:
        raise RuntimeError("listener failed for this patient")
