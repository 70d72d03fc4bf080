"""Bands and CDS indicators from the per-version ThresholdPolicy (defaults come from training or the rule chart)."""

from __future__ import annotations

from dataclasses import dataclass

from scoring.types import Band, Indicator

DEFAULT_INDICATORS: dict[Band, Indicator] = {"low": "info", "moderate": "warning", "high": "critical"}


@dataclass(frozen=True, slots=True)
class Policy:
    """Thresholds and the band -> indicator map of one model version."""

    moderate_at: float
    high_at: float
    indicators: dict[Band, Indicator]

    def band(self, value: float) -> Band:
        """Band of a probability (ML) or points total (rules)."""
        if value >= self.high_at:
            return "high"
        return "moderate" if value >= self.moderate_at else "low"

    def indicator(self, band: Band | None) -> Indicator:
        """CDS card indicator of a band ('info' when not scored)."""
        return self.indicators[band] if band is not None else "info"
