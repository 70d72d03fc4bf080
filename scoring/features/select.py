"""A model's share of a patient's resources: what its catalogue requirements declare, as of a time.

Every door hands scoring the patient's whole snapshot; each model then reads only its declared resource
types, its Observation categories/codes within its look-back (never after as-of), and the Encounters
that overlap its history window. The same patient at the same time thus gives a model the same inputs
whatever else was fetched or prefetched for other models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from config.fhir_json import Requirements


def resources_for(
    resources: Sequence[Mapping[str, Any]], requirements: Requirements, as_of: datetime
) -> list[Mapping[str, Any]]:
    """The resources a model reads at `as_of` (the requirement's sets and windows are built once per call: this
    runs for every model on every scored call, over every resource of the snapshot, so the per-resource test is
    one loop with one method call per Observation)."""
    wanted = _Wanted(requirements, as_of)
    types, observation, encounter = wanted.types, wanted.observation, wanted.encounter
    return [
        r
        for r in resources
        if (kind := r.get("resourceType")) in types
        and (observation(r) if kind == "Observation" else kind != "Encounter" or encounter(r))
    ]


class _Wanted:
    """Whether one resource is in a model's declared share at `at`."""

    def __init__(self, req: Requirements, at: datetime) -> None:
        self.types = set(req.resource_types)
        self.categories = set(req.observation_categories)
        self.codes = set(req.observation_codes)
        self.at = at
        self.observations_since = at - timedelta(hours=req.lookback_hours)
        self.encounters_since = at - timedelta(hours=req.encounter_hours or req.lookback_hours)
        self._in_window: dict[str, bool] = {}  # effective time text -> within the look-back (a chart repeats them)

    def observation(self, obs: Mapping[str, Any]) -> bool:
        """Within the look-back and carrying one of the wanted categories or codes (`effective_time` and
        `_has_code`, inlined: this runs for each of ~500 Observations of a call)."""
        text = obs.get("effectiveDateTime") or obs.get("effectiveInstant")
        if not text and isinstance(period := obs.get("effectivePeriod"), dict):
            text = period.get("start")
        if not isinstance(text, str):
            text = ""
        inside = self._in_window.get(text)
        if inside is None:
            inside = self._window(text)
        if not inside:
            return False
        category = obs.get("category")
        for concept in category if isinstance(category, list) else (category,):
            if isinstance(concept, dict):
                for c in concept.get("coding") or ():
                    if isinstance(c, dict) and isinstance(code := c.get("code"), str) and code in self.categories:
                        return True
        return _has_code(obs.get("code"), self.codes)

    def _window(self, text: str) -> bool:
        when = parse_datetime(text)
        inside = self._in_window[text] = when is not None and self.observations_since <= when <= self.at
        return inside

    def encounter(self, resource: Mapping[str, Any]) -> bool:
        return _encounter_wanted(resource, self.encounters_since, self.at)


def _has_code(concepts: object, wanted: set[str]) -> bool:
    """Whether a CodeableConcept (or a list of them) carries one of `wanted` codes (malformed parts skipped)."""
    if not wanted:
        return False
    for concept in concepts if isinstance(concepts, list) else (concepts,):
        if isinstance(concept, dict):
            for c in concept.get("coding") or ():
                if isinstance(c, dict) and isinstance(code := c.get("code"), str) and code in wanted:
                    return True
    return False


def _encounter_wanted(encounter: Mapping[str, Any], since: datetime, at: datetime) -> bool:
    period = encounter.get("period")
    if not isinstance(period, dict):
        return True
    start, end = parse_datetime(period.get("start")), parse_datetime(period.get("end"))
    return (start is None or start <= at) and (end is None or end >= since)


def effective_time(resource: Mapping[str, Any]) -> str:
    """An Observation's effective[x] time as text ("" when it has none)."""
    period = resource.get("effectivePeriod")
    value = (
        resource.get("effectiveDateTime")
        or resource.get("effectiveInstant")
        or (period.get("start") if isinstance(period, dict) else None)
    )
    return value if isinstance(value, str) else ""


def parse_datetime(text: object) -> datetime | None:
    """An aware datetime from FHIR text; None for anything else (a date without a time zone included)."""
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None
