"""The texts every surface shows for a score (CDS card, sidebar, write-back rationale), defined once.

Ages, data freshness, driver values, probability and point words, band words and the reasons a score was
refused all come from here, so the card and the sidebar cannot word the same result differently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.conf import settings

from scoring.types import Driver, ScoreResult, probability_text

BAND_WORDS = {"high": "High risk", "moderate": "Moderate risk", "low": "Low risk"}

__all__ = [
    "BAND_WORDS",
    "age_text",
    "band_text",
    "band_words",
    "clinical_drivers",
    "clock_text",
    "context_text",
    "driver_value_text",
    "freshness_text",
    "headline",
    "horizon_text",
    "local_time",
    "not_scored_reasons",
    "number_text",
    "percent_text",
    "points_text",
    "probability_text",
    "utc_text",
    "value_text",
]


def age_text(hours: float) -> str:
    """How long ago an input was measured: "12 min ago", "5 h ago", "3 d ago"."""
    if hours < 1:
        return f"{max(0, round(hours * 60))} min ago"
    return f"{hours:.0f} h ago" if hours < 48 else f"{hours / 24:.0f} d ago"


def local_time(moment: datetime) -> datetime:
    """`moment` in the time zone clinicians read (`STRATIFY_DISPLAY_TIME_ZONE`, the EHR's local zone)."""
    return moment.astimezone(ZoneInfo(settings.DISPLAY_TIME_ZONE))


def clock_text(moment: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A time as clinicians read it, with its zone: "2025-03-01 13:00 CET"."""
    shown = local_time(moment)
    return f"{shown.strftime(fmt)} {shown.tzname() or settings.DISPLAY_TIME_ZONE}"


def utc_text(moment: datetime) -> str:
    """The same time in UTC (shown on hover, or beside the local time where there is no hover)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def freshness_text(data_times: Mapping[str, datetime], as_of: datetime) -> str:
    """Newest and oldest input used, relative to the score's as-of time."""
    if not data_times:
        return f"no timed inputs; as of {clock_text(as_of)}."
    ages = [(as_of - t).total_seconds() / 3600 for t in data_times.values()]
    return f"newest input {age_text(min(ages))}, oldest used {age_text(max(ages))} (as of {clock_text(as_of)})."


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
    """ "1 point", "5 points"."""
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
    """ "High risk" etc. ("" without a band)."""
    return BAND_WORDS.get(result.band or "", "")


def band_text(result: ScoreResult) -> str:
    """The band with its cut-offs and, for ML models, the base rate to compare with:
    "High: >= 2.8 % (moderate from 1.6 %; base rate 2.2 % in held-out training-site data)"."""
    if not result.scored or result.band is None or result.cutoffs is None:
        return ""
    moderate, high = result.cutoffs
    shown = _cutoff_text(result)
    words = {
        "high": f"High: ≥ {shown(high)}",
        "moderate": f"Moderate: ≥ {shown(moderate)}, below {shown(high)}",
        "low": f"Low: below {shown(moderate)}",
    }[result.band]
    notes = [f"high from {shown(high)}"] if result.band == "low" and high > moderate else []
    if result.base_rate is not None:
        notes.append(f"base rate {percent_text(result.base_rate)} in held-out training-site data")
    return f"{words} ({'; '.join(notes)})" if notes else words


def _cutoff_text(result: ScoreResult) -> Callable[[float], str]:
    return percent_text if result.probability is not None else points_text


def percent_text(fraction: float) -> str:
    """A cut-off or rate as a percentage with the precision it needs: "2.8 %", "11 %", "0.45 %"."""
    pct = fraction * 100
    return f"{pct:.2g} %" if pct < 10 else f"{pct:.0f} %"


def horizon_text(hours: int) -> str:
    """A prediction horizon as people say it: "in the next 6 h", "within 30 days"."""
    return f"in the next {hours} h" if hours < 48 else f"within {hours // 24} days"


def headline(result: ScoreResult, emphasis: Callable[[str], str] = str) -> str:
    """The score in one phrase: "calibrated probability 34% in the next 6 h" / "score 5 points";
    `emphasis` marks the value (Markdown bold on a card)."""
    horizon = f" {horizon_text(result.horizon_hours)}" if result.horizon_hours else ""
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
