"""Models' shares kept between calls, for a door that keeps a patient's resources and changes a few between calls.

`model_share` walks every resource of a call and files each wanted Observation's values into a fresh index: right
for a door that reads a patient once. The real-time door keeps each patient's state and rescores it after every
few events; walking and filing its thousands of samples again for every model made a rescore cost what the state
holds, not what changed. `KeptShares` files each resource once per model, when it first appears (again when it
changes, out when it goes), in the order `model_share` would: each column's values by time, equal times in the
resources' order. A call's share is then cut out of what is kept by the model's look-back: the same resources in
the same order and the same index as `model_share` gives (tests/scoring/test_kept_shares.py checks it over
random changes).

Resources are keyed (the state's field names, each key once) and given either all of them in their keys' order
(`sync`) or only those changed and the keys gone (`update`). A `ParsedResources` that carries a `KeptShares` reads
it as it stands: the door brings it up to date, then scores. A share already given lists its Observations as they
were when it was given (`scoring.features.select.Listed`), whatever changes after.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter

from config.fhir_json import Requirements
from scoring.features.fhir_index import ObservationFacts, ObservationIndex, Series
from scoring.features.select import Listed, Resource, Share, other_wanted, resource_facts, share_window

SortKey = tuple[float, str, int]  # (time, resource key, the value's place among the resource's values)
_FIRST = itemgetter(0)


@dataclass(slots=True)
class _Column:
    """One column's values of the kept Observations, by (time, key, place)."""

    order: list[SortKey] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)

    def insert(self, key: SortKey, value: float, ref: str) -> None:
        i = bisect.bisect_left(self.order, key)
        self.order.insert(i, key)
        self.times.insert(i, key[0])
        self.values.insert(i, value)
        self.refs.insert(i, ref)

    def remove(self, key: SortKey) -> None:
        i = bisect.bisect_left(self.order, key)
        del self.order[i], self.times[i], self.values[i], self.refs[i]

    def series(self, since: float, at: float) -> Series | None:
        """The values dated within [since, at]; None when there are none."""
        lo, hi = bisect.bisect_left(self.times, since), bisect.bisect_right(self.times, at)
        return Series(self.times[lo:hi], self.values[lo:hi], self.refs[lo:hi]) if lo < hi else None


def _rows(key: str, facts: ObservationFacts) -> list[tuple[str, SortKey, float, str]]:
    """An Observation's values as filed: (column, (time, key, place), value, reference)."""
    return [(column, (at, key, place), value, ref) for place, (column, (at, value, ref)) in enumerate(facts.points)]


class _Kept:
    """One model's Observations (by its categories and codes, whatever their time) with their values filed."""

    def __init__(self, requirements: Requirements) -> None:
        self.categories = frozenset(requirements.observation_categories)
        self.codes = frozenset(requirements.observation_codes)
        self.keys: list[str] = []  # the kept Observations' keys, in order; `effective` and `resources` follow it
        self.effective: list[float] = []
        self.resources: list[Resource] = []
        self.facts: dict[str, ObservationFacts] = {}
        self.columns: dict[str, _Column] = {}
        self.odd: dict[str, float] = {}  # keys of those with values in units not understood: their time
        self.listed: dict[str, list[str]] = {code: [] for code in self.codes}  # keys of each code's, in order

    def wants(self, facts: ObservationFacts) -> bool:
        return facts.effective is not None and not (
            self.categories.isdisjoint(facts.categories) and self.codes.isdisjoint(facts.codes)
        )

    def add(self, key: str, resource: Resource, facts: ObservationFacts) -> None:
        if self.wants(facts):
            self._enter(bisect.bisect_left(self.keys, key), key, resource, facts)
            for column, sort_key, value, ref in _rows(key, facts):
                self.columns.setdefault(column, _Column()).insert(sort_key, value, ref)

    def fill(self, items: Sequence[tuple[str, Resource, ObservationFacts]]) -> None:
        """File many resources at once into an empty one (in their keys' order): one sort per column, where an
        insertion each cost a move of what is already filed."""
        rows: dict[str, list[tuple[SortKey, float, str]]] = {}
        for key, resource, facts in items:
            if self.wants(facts):
                self._enter(len(self.keys), key, resource, facts)
                for column, sort_key, value, ref in _rows(key, facts):
                    rows.setdefault(column, []).append((sort_key, value, ref))
        for column, found in rows.items():
            found.sort(key=_FIRST)
            sort_keys = [k for k, _, _ in found]
            self.columns[column] = _Column(
                sort_keys, [k[0] for k in sort_keys], [v for _, v, _ in found], [r for _, _, r in found]
            )

    def remove(self, key: str) -> None:
        facts = self.facts.pop(key, None)
        if facts is None:
            return
        i = bisect.bisect_left(self.keys, key)
        del self.keys[i], self.effective[i], self.resources[i]
        for column, sort_key, _, _ in _rows(key, facts):
            self.columns[column].remove(sort_key)
        for code in self.codes.intersection(facts.codes):
            keys = self.listed[code]
            del keys[bisect.bisect_left(keys, key)]
        self.odd.pop(key, None)

    def _enter(self, i: int, key: str, resource: Resource, facts: ObservationFacts) -> None:
        """Note a wanted Observation at place `i` of the keys (its values are filed by the caller)."""
        assert facts.effective is not None  # wanted ones have one
        self.keys.insert(i, key)
        self.effective.insert(i, facts.effective)
        self.resources.insert(i, resource)
        self.facts[key] = facts
        if facts.unknown_units:
            self.odd[key] = facts.effective
        for code in self.codes.intersection(facts.codes):
            bisect.insort(self.listed[code], key)

    def share(self, since: float, at: float, others: list[Resource]) -> Share:
        """`others` and the kept Observations dated within [since, at] (listed when first read: `Listed`), and
        their index."""
        series = {c: s for c, col in self.columns.items() if (s := col.series(since, at)) is not None}
        bad: dict[str, set[str]] = {}
        for key in [k for k, when in self.odd.items() if since <= when <= at]:
            for column, unit in self.facts[key].unknown_units:
                bad.setdefault(column, set()).add(unit)
        listed = {code: self._within(keys, since, at) for code, keys in self.listed.items()}
        index = ObservationIndex(series=series, unconverted_units=bad, listed=listed, others=others)
        return Share(Listed(self._lister(since, at, others)), index)

    def _lister(self, since: float, at: float, others: list[Resource]) -> Callable[[], list[Resource]]:
        """What lists `others`, then the kept Observations dated within [since, at] in their keys' order, as they
        are now (from copies: a later change does not reach a share already given)."""
        effective, resources = list(self.effective), list(self.resources)
        return lambda: others + [r for when, r in zip(effective, resources, strict=True) if since <= when <= at]

    def _within(self, keys: list[str], since: float, at: float) -> list[Resource]:
        """The resources of `keys` (kept ones) dated within [since, at], in their order."""
        places = [bisect.bisect_left(self.keys, key) for key in keys]
        return [self.resources[i] for i in places if since <= self.effective[i] <= at]


class KeptShares:
    """The shares of every model asked for, kept up to date with the resources of each call: by `sync` (all of
    them, in their keys' order) or by `update` (only what changed and what went, in any order)."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[Resource, ObservationFacts | None]] = {}
        self._others: dict[str, Resource] = {}  # resources that are not Observations, by key
        self._kept: dict[Requirements, _Kept] = {}

    def sync(
        self, keys: Sequence[str], resources: Sequence[Resource], facts: Sequence[ObservationFacts | None]
    ) -> None:
        """Bring what is kept to these resources (in their keys' order): file new or changed ones, drop gone ones."""
        self.update(zip(keys, resources, facts, strict=True), self._known.keys() - set(keys))

    def update(
        self, changed: Iterable[tuple[str, Resource, ObservationFacts | None]], removed: Iterable[str] = ()
    ) -> None:
        """Take in what changed since the last call: resources new or changed (by key), and keys gone."""
        known = self._known
        for key in removed:
            if key in known:
                self._drop(key)
        for key, resource, read in changed:
            held = known.get(key)
            if held is None or held[0] is not resource:
                if held is not None:
                    self._drop(key)
                self._file(key, resource, read)

    def share(self, requirements: Requirements, as_of: datetime) -> Share:
        """What `model_share` gives for these resources."""
        since, at, encounters_since = share_window(requirements, as_of)
        types = frozenset(requirements.resource_types)
        others = [r for r in self.others() if other_wanted(r, types, encounters_since, as_of)]
        if "Observation" not in types:
            listed: dict[str, list[Resource]] = {code: [] for code in requirements.observation_codes}
            return Share(list(others), ObservationIndex(series={}, listed=listed, others=others))
        return self._of(requirements).share(since, at, others)

    def others(self) -> list[Resource]:
        """The resources that are not Observations, in their keys' order."""
        return [r for _, r in sorted(self._others.items())]

    def _of(self, requirements: Requirements) -> _Kept:
        kept = self._kept.get(requirements)
        if kept is None:
            kept = self._kept[requirements] = _Kept(requirements)
            kept.fill([(key, r, facts) for key, (r, facts) in sorted(self._known.items()) if facts is not None])
        return kept

    def _file(self, key: str, resource: Resource, facts: ObservationFacts | None) -> None:
        if resource.get("resourceType") == "Observation":
            facts = facts or resource_facts(resource)
            assert facts is not None
            for kept in self._kept.values():
                kept.add(key, resource, facts)
        else:
            self._others[key] = resource
        self._known[key] = (resource, facts)

    def _drop(self, key: str) -> None:
        self._known.pop(key)
        self._others.pop(key, None)
        for kept in self._kept.values():
            kept.remove(key)
