"""Score listeners of the tests: one keeps every patient's scores it receives, the others fail (always, or for
some patients)."""

from collections.abc import Sequence
from typing import Any

from scoring.types import PatientScores

CALLS: list[dict[str, Any]] = []


def capture(scores: Sequence[PatientScores]) -> None:
    """Record each patient's scores of one call, as the keyword arguments of a one-patient call."""
    CALLS.extend(
        {"registration_id": s.registration_id, "patient_id": s.patient_id, "unit": s.unit, "results": s.results}
        for s in scores
    )


def failing(scores: Sequence[PatientScores]) -> None:
    """A listener that fails: the rescores it was called for must roll back."""
    raise RuntimeError("listener failed")


FAIL_FOR: set[str] = set()  # patient ids `failing_for` fails for


def failing_for(scores: Sequence[PatientScores]) -> None:
    """A listener that fails when a patient in FAIL_FOR is among the scores (their rescore must roll back, nobody
    else's: the consumer stores each patient alone after a joint store failed)."""
    if any(s.patient_id in FAIL_FOR for s in scores):
        raise RuntimeError("listener failed for this patient")
