"""Measurement-count features: hours with a value in the window, the same on the FHIR and the training path."""

import math
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from scoring.features.extract import HOUR, _hours, extract_features
from scoring.features.hourly import hourly_features
from scoring.features.spec import SEPSIS_FEATURES
from scoring.serving.explain import driver_text

AS_OF = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
HR_COUNT = next(f for f in SEPSIS_FEATURES if f.name == "HR_count_24h")


def _hr(minutes_before: float, idx: int) -> dict:
    when = (AS_OF - timedelta(minutes=minutes_before)).isoformat()
    return {
        "resourceType": "Observation",
        "id": f"hr{idx}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "effectiveDateTime": when,
        "valueQuantity": {"value": 90.0, "code": "/min"},
    }


def _count(resources: list[dict], as_of: datetime = AS_OF) -> float:
    return extract_features((HR_COUNT,), resources, as_of).values[0]


def test_sub_hourly_charting_counts_hours_not_observations() -> None:
    every_5_min = [_hr(5 * k, k) for k in range(12)]  # 0..55 min before as-of: one hour
    assert _count(every_5_min) == 1.0
    assert _count(every_5_min + [_hr(60, 99), _hr(61, 100)]) == 2.0


def test_window_excludes_the_boundary_and_the_future() -> None:
    assert _count([_hr(24 * 60, 1)]) == 0.0  # exactly 24 h ago is outside (T - 24 h, T]
    assert _count([_hr(24 * 60 - 1, 1)]) == 1.0
    assert _count([_hr(-30, 1)]) == 0.0  # after as-of: never read
    assert _count([]) == 0.0  # no measurement is a count of 0, not a missing value


def test_training_path_counts_rows_with_a_value_in_the_stay() -> None:
    hr = [80.0, np.nan, 82.0] + [np.nan] * 25 + [90.0]
    frame = pd.DataFrame({"patient_id": ["a"] * 29 + ["b"], "hour": list(range(29)) + [0], "HR": hr + [70.0]})
    counts = hourly_features(frame, (HR_COUNT,))[:, 0]
    assert counts.tolist()[:4] == [1.0, 1.0, 2.0, 2.0]
    assert counts[24] == 1.0  # rows 1..24: only hour 2 has a value
    assert counts[28] == 1.0  # hour 28: window rows 5..28
    assert counts[29] == 1.0  # next stay starts from zero


def test_count_driver_wording() -> None:
    assert driver_text(HR_COUNT, 3.0, 0.5, "raises") == "Heart rate measured in 3 of the last 24 h, raises risk"


def test_hours_are_counted_by_bisection_as_a_set_of_hours_counts_them() -> None:
    """Many values in a window are counted one bisection per hour: the same count as the set of their hours, for
    dense, sparse and repeated times and times on the hour marks."""
    rng = random.Random(11)
    at = AS_OF.timestamp()
    for _ in range(300):
        kind = rng.choice(["dense", "sparse", "marks"])
        if kind == "dense":
            times = [at - rng.uniform(0, 26 * HOUR) for _ in range(rng.randint(50, 400))]
        elif kind == "sparse":
            times = [at - rng.uniform(0, 26 * HOUR) for _ in range(rng.randint(0, 60))] * 2
        else:
            times = [
                at - HOUR * rng.randint(0, 26) + rng.choice([0.0, 1e-6, -1e-6]) for _ in range(rng.randint(0, 200))
            ]
        times.sort()
        lo, hi = sorted(rng.sample(range(len(times) + 1), 2)) if len(times) > 1 else (0, len(times))
        assert _hours(times, lo, hi, at) == len({math.floor((at - t) / HOUR) for t in times[lo:hi]})
