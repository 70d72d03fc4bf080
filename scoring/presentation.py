"""The texts every surface shows for a score (CDS card, sidebar, write-back rationale), defined once.

Ages, data freshness, driver values, probability and point words, band words and the reasons a score was
refused all come from here, so the card and the sidebar cannot word the same result differently.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from scoring.types import Driver, ScoreResult, probability_text

BAND_WORDS = {"high": "High risk", "moderate": "Moderate risk", "low": "Low risk"}

__all__ = [
    "BAND_WORDS",
    "age_text",
    "band_words",
    "clinical_drivers",
    "context_text",
    "driver_value_text",
    "freshness_text",
    "headline",
    "not_scored_reasons",
    "number_text",
    "points_text",
    "probability_text",
    "value_text",
]


def age_text(hours: float) -> str:
    """How long ago an input was measured: "12 min ago", "5 h ago", "3 d ago"."""
    if hours < 1:
        return f"{max(0, round(hours * 60))} min ago"
    return f"{hours:.0f} h ago" if hours < 48 else f"{hours / 24:.0f} d ago"


def freshness_text(data_times: Mapping[str, datetime], as_of: datetime) -> str:
    """Newest and oldest input used, relative to the score's as-of time."""
    if not data_times:
        return f"no timed inputs; as of {as_of:%Y-%m-%d %H:%M} UTC."
    ages = [(as_of - t).total_seconds() / 3600 for t in data_times.values()]
    return (f"newest input {age_text(min(ages))}, oldest used {age_text(max(ages))} "
            f"(as of {as_of:%Y-%m-%d %H:%M} UTC).")


def number_text(value: float) -> str:
    """A clinician-friendly number: 258, 29.1, 4.1, 0.82."""
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}".removesuffix(".0")
    return f"{value:.3g}"


def driver_value_text(driver: Driver) -> str:
    """A driver's value as the model read it, with its unit ("—" when it had none)."""
    if driver.value_text:
        return driver.value_text
    return "—" if driver.value is None else f"{number_text(driver.value)} {driver.unit}".strip()


def points_text(points: float) -> str:
    """"1 point", "5 points"."""
    shown = f"{points:g}"
    return f"{shown} point{'' if shown == '1' else 's'}"


def value_text(result: ScoreResult) -> str:
    """`34%` for a calibrated probability, `5 points` for a rule score, `Not scored` otherwise."""
    if result.scored and result.probability is not None:
        return probability_text(result.probability)
    if result.scored and result.points is not None:
        return points_text(result.points)
    return "Not scored"


def band_words(result: ScoreResult) -> str:
    """"High risk" etc. ("" without a band)."""
    return BAND_WORDS.get(result.band or "", "")


def headline(result: ScoreResult, emphasis: Callable[[str], str] = str) -> str:
    """The score in one phrase: "calibrated probability 34% in the next 6 h" / "score 5 points";
    `emphasis` marks the value (Markdown bold on a card)."""
    horizon = f" in the next {result.horizon_hours} h" if result.horizon_hours else ""
    if result.probability is not None:
        return f"calibrated probability {emphasis(probability_text(result.probability))}{horizon}"
    if result.points is not None:
        return f"score {emphasis(points_text(result.points))}{horizon}"
    return result.summary


def clinical_drivers(result: ScoreResult) -> list[Driver]:
    """The drivers that are the patient's physiology (or a rule's parameters), largest first."""
    return [d for d in result.drivers if not d.context]


def context_text(result: ScoreResult) -> str:
    """The context inputs among the drivers on one line ("" when none): charting and time, not physiology."""
    phrases = [_phrase(d) for d in result.drivers if d.context]
    return "; ".join(phrases) + "." if phrases else ""


def _phrase(driver: Driver) -> str:
    """A driver's text without its direction tail: "Lactate measured in 3 of the last 6 h"."""
    return driver.text.removesuffix(f", {driver.direction} risk")


def not_scored_reasons(result: ScoreResult) -> list[str]:
    """Sentences for a refusal: the model's reasons, then missing and stale inputs."""
    if result.scored:
        return []
    reasons = list(result.notes())
    if result.missing:
        reasons.append("Missing: " + ", ".join(result.missing) + ".")
    if result.stale:
        reasons.append("Too old: " + ", ".join(result.stale) + ".")
    return reasons or ["The model could not score this patient with the data available."]
