"""A score listener of the tests: it keeps every call it receives."""

from typing import Any

CALLS: list[dict[str, Any]] = []


def capture(**kwargs: Any) -> None:
    """Record the keyword arguments of one call."""
    CALLS.append(kwargs)


def failing(**kwargs: Any) -> None:
    """A listener that fails: the rescore it was called in must roll back."""
    raise RuntimeError("listener failed")
