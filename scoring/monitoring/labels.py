"""Labels of served inferences from observed outcomes, the model's horizon respected.

A score at `as_of` of a model with horizon H (the card's `horizon_hours`: 6 for sepsis, 720 for 30-day
readmission) is labelled
- **1** when the patient has an outcome at t with as_of < t <= as_of + H (sepsis onset within 6 hours; a
  readmission starting within 30 days of the discharge scored);
- for an outcome that ends the prediction (`Outcome.ends_prediction` in the catalogue: sepsis), a score at or
  after onset is **1** up to H after it, as in the label the version was trained and calibrated on
  (PhysioNet 2019's SepsisLabel stays 1 after onset; its septic stays end within 3 h of onset, Reyna et al.,
  Crit Care Med 2020;48:210), and **excluded** later (no training hour was that far past onset). Dropping
  all post-onset scores instead makes a calibrated version read over-stated: on 1,000 set-A calibration
  patients, calibration intercept -0.37 (95 % CI -0.59 to -0.17) against +0.10 (-0.13 to 0.29);
- **0** when none of that holds and the patient is known to have been followed through as_of + H: a
  follow-up record (`occurred` false) reaching it, or a later outcome (which implies the record ran on);
- **unlabelled** otherwise (the horizon has not been observed yet).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

UNLABELLED, EXCLUDED = -1, -2


@dataclass(frozen=True, slots=True)
class Observed:
    """One outcome record of a patient: it occurred at `at`, or the patient was followed without it until `at`."""

    occurred: bool
    at: datetime


def label(as_of: datetime, horizon: timedelta, outcomes: Sequence[Observed], *, ends_prediction: bool) -> int:
    """1, 0, EXCLUDED or UNLABELLED for one score (see the module docstring)."""
    onsets = [o.at for o in outcomes if o.occurred]
    if any(as_of < t <= as_of + horizon for t in onsets):
        return 1
    past = [t for t in onsets if t <= as_of]
    if ends_prediction and past:
        return 1 if as_of - max(past) <= horizon else EXCLUDED
    followed = max((o.at for o in outcomes), default=None)
    return 0 if followed is not None and followed >= as_of + horizon else UNLABELLED


def by_patient(rows: Iterable[tuple[str, bool, datetime]]) -> dict[str, list[Observed]]:
    """(pseudonym, occurred, at) rows grouped per patient."""
    grouped: dict[str, list[Observed]] = defaultdict(list)
    for pseudonym, occurred, at in rows:
        grouped[pseudonym].append(Observed(occurred, at))
    return grouped
