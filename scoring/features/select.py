"""A model's share of a patient's resources: what its catalogue requirements declare, as of a time.

Every door hands scoring the patient's whole snapshot; each model then reads only its declared resource
types, its Observation categories/codes within its look-back (never after as-of), and the Encounters
that overlap its history window. The same patient at the same time thus gives a model the same inputs
whatever else was fetched or prefetched for other models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, overload

from config.fhir_json import Requirements
from scoring.features.fhir_index import (
    IndexBuilder,
    ObservationFacts,
    ObservationIndex,
    TimeMemo,
    effective_seconds,
    effective_text,
    observation_facts,
)

if TYPE_CHECKING:
    from scoring.features.kept import KeptShares

Resource = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ParsedResources:
    """A patient's resources, in order, with each Observation's facts read at most once.

    `facts[i]` is None for a resource that is not an Observation, and for an Observation not read yet: a model's
    share reads an Observation's facts only once its effective time falls within the model's look-back (most of
    a chart does not, for a vital-signs rule), and keeps them for the call's other models. A door that keeps a
    patient's resources between calls (the real-time state) keeps every Observation's facts with them, and may keep
    the models' shares too (`kept`: `scoring.features.kept.KeptShares`, in step with these resources). Threads may
    share one (a trend's points): two that read the same Observation at once store equal facts.
    """

    resources: Sequence[Resource]
    facts: list[ObservationFacts | None]
    times: TimeMemo = field(default_factory=dict, compare=False)
    kept: KeptShares | None = field(default=None, compare=False)

    def other_kinds(self) -> Sequence[Resource]:
        """For readers looking for a Patient or Encounters: every resource that is not an Observation, in order,
        alone when the shares are kept (`kept` has them apart), else among all the resources."""
        return self.resources if self.kept is None else self.kept.others()


def resource_facts(resource: Resource, times: TimeMemo | None = None) -> ObservationFacts | None:
    """An Observation's facts; None for any other resource (`times`: see `observation_facts`)."""
    return observation_facts(resource, times) if resource.get("resourceType") == "Observation" else None


def parsed_resources(resources: Sequence[Resource] | ParsedResources) -> ParsedResources:
    """`resources`, their facts to be read as models need them (as they are when they already were)."""
    if isinstance(resources, ParsedResources):
        return resources
    return ParsedResources(resources, [None] * len(resources))


@dataclass(frozen=True, slots=True)
class Share:
    """A model's share of a patient's resources at a time (its other resources first, then its Observations, each
    in the order given), and the index of its Observations."""

    resources: Sequence[Resource]
    index: ObservationIndex


class Listed(Sequence[Resource]):
    """Resources listed when first read. A kept share's Observations (`scoring.features.kept`): the readers of a
    rescore find their values in the index, their coded ones in `index.listed` and the Patient and Encounters in
    `index.others`, so listing thousands of samples for every model of every rescore was work nobody read."""

    __slots__ = ("_items", "_make")

    def __init__(self, make: Callable[[], list[Resource]]) -> None:
        self._make: Callable[[], list[Resource]] | None = make
        self._items: list[Resource] = []

    def _list(self) -> list[Resource]:
        make = self._make
        if make is not None:
            self._items = make()
            self._make = None
        return self._items

    @overload
    def __getitem__(self, i: int) -> Resource: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Resource]: ...
    def __getitem__(self, i: int | slice) -> Resource | Sequence[Resource]:
        return self._list()[i]

    def __len__(self) -> int:
        return len(self._list())

    def __iter__(self) -> Iterator[Resource]:
        return iter(self._list())

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    __hash__ = None  # type: ignore[assignment]


class Window(NamedTuple):
    """A model's windows at a time: its look-back over Observations (POSIX seconds, since to at) and the start of
    the history its Encounters must overlap."""

    since: float
    at: float
    encounters_since: datetime


def share_window(requirements: Requirements, as_of: datetime) -> Window:
    """The windows a model's share reads at `as_of` (a naive as_of is refused: ValueError)."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    return Window(
        (as_of - timedelta(hours=requirements.lookback_hours)).timestamp(),
        as_of.timestamp(),
        as_of - timedelta(hours=requirements.encounter_hours or requirements.lookback_hours),
    )


def model_share(parsed: ParsedResources, requirements: Requirements, as_of: datetime) -> Share:
    """What a model reads at `as_of`: its declared resource types, its Observation categories or codes dated
    within its look-back (never after as-of), and the Encounters overlapping its history window; the
    Observations' values indexed by column, and those of the codes it fetches by code listed by code. One loop
    over the facts: this runs for every model of every call, unless the resources come with their shares kept
    (`ParsedResources.kept`), which gives the same."""
    if parsed.kept is not None:
        return parsed.kept.share(requirements, as_of)
    since, at, encounters_since = share_window(requirements, as_of)
    types = frozenset(requirements.resource_types)
    categories, codes = frozenset(requirements.observation_categories), frozenset(requirements.observation_codes)
    observations = "Observation" in types
    others: list[Resource] = []  # listed first: readers look for the Patient and the Encounters
    mine: list[Resource] = []
    kept: list[ObservationFacts] = []  # the facts of `mine`, in step
    listed: dict[str, list[Resource]] = {code: [] for code in codes}
    read, times = parsed.facts, parsed.times
    for i, resource in enumerate(parsed.resources):
        facts = read[i]
        if facts is None:
            if resource.get("resourceType") != "Observation":
                if other_wanted(resource, types, encounters_since, as_of):
                    others.append(resource)
                continue
            if not observations:
                continue
            when = effective_seconds(resource, times)
            if when is None or not since <= when <= at:
                continue
            facts = read[i] = observation_facts(resource, times, when)
        elif not observations or (when := facts.effective) is None or not since <= when <= at:
            continue
        if not (categories.isdisjoint(facts.categories) and codes.isdisjoint(facts.codes)):
            mine.append(resource)
            kept.append(facts)
            if codes:
                for code in codes.intersection(facts.codes):
                    listed[code].append(resource)
    builder = IndexBuilder()
    builder.add(kept, at)
    return Share(others + mine, builder.index(listed, others))


def other_wanted(resource: Resource, types: frozenset[str], encounters_since: datetime, as_of: datetime) -> bool:
    """Whether a model reads a resource that is not an Observation: of its declared types, and an Encounter only
    when it overlaps the model's history window."""
    kind = resource.get("resourceType")
    return kind in types and (kind != "Encounter" or _encounter_wanted(resource, encounters_since, as_of))


def resources_for(resources: Sequence[Resource], requirements: Requirements, as_of: datetime) -> list[Resource]:
    """The resources a model reads at `as_of` (`model_share`)."""
    return list(model_share(parsed_resources(resources), requirements, as_of).resources)


def _encounter_wanted(encounter: Mapping[str, Any], since: datetime, at: datetime) -> bool:
    period = encounter.get("period")
    if not isinstance(period, dict):
        return True
    start, end = parse_datetime(period.get("start")), parse_datetime(period.get("end"))
    return (start is None or start <= at) and (end is None or end >= since)


def effective_time(resource: Mapping[str, Any]) -> str:
    """An Observation's effective[x] time as text ("" when it has none)."""
    value = effective_text(resource)
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
