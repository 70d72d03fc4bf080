"""Which catalogue models the real-time door rescores, decided by their declared requirements (no list of names).

A model reads vitals when its `DataRequirements` fetch the vital-signs category (today sepsis, NEWS2 and
qSOFA; the readmission model reads labs, encounters and history, and a vitals event cannot change its score
within a stay). An event changes a model's inputs when its code is in the model's categories or codes.
"""

from __future__ import annotations

from collections.abc import Iterable

from realtime.observations import CATEGORY_OF
from scoring.catalogue import ModelDefinition, definitions

VITAL_SIGNS = "vital-signs"


def vitals_models() -> list[ModelDefinition]:
    """The catalogue's models that read vital signs, in display order."""
    return [m for m in definitions() if VITAL_SIGNS in m.requirements.observation_categories]


def models_reading(codes: Iterable[str]) -> list[ModelDefinition]:
    """The vitals models whose declared inputs include any of these LOINC codes."""
    wanted = set(codes)
    categories = {CATEGORY_OF[c] for c in wanted if c in CATEGORY_OF}
    return [
        m
        for m in vitals_models()
        if not categories.isdisjoint(m.requirements.observation_categories)
        or not wanted.isdisjoint(m.requirements.observation_codes)
    ]


def lookback_hours() -> float:
    """The longest Observation look-back of the vitals models: how much history the online state keeps."""
    return max((m.requirements.lookback_hours for m in vitals_models()), default=0.0)
