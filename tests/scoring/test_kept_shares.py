"""Shares kept between calls (`KeptShares`, the real-time door's) are the shares `model_share` gives: the same
resources in the same order and the same index, for every catalogue model, over random additions, replacements
and removals of a real stay's resources (and the readers' odd Observations) at moving as-of times."""

from __future__ import annotations

import copy
import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from scoring.catalogue import definitions
from scoring.features.kept import KeptShares
from scoring.features.select import ParsedResources, model_share, parsed_resources, resource_facts
from tests.scoring.test_model_share import AS_OF, _odd_ones

Chart = dict[str, dict[str, Any]]


def _key(resource: dict[str, Any]) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def _variant(rng: random.Random, chart: Chart, number: int, as_of: datetime) -> dict[str, Any]:
    """A copy of one of the chart's Observations, as a new one, at a time near `as_of` (often one already used)."""
    source = rng.choice([r for r in chart.values() if r["resourceType"] == "Observation"])
    minutes = rng.choice([0, 0, 5, 30, 90, 600, 1500, -20])  # some after as-of, some equal to others' times
    new = {
        **copy.deepcopy(source),
        "id": f"new-{number}",
        "effectiveDateTime": (as_of - timedelta(minutes=minutes)).isoformat(),
    }
    if isinstance(new.get("valueQuantity"), dict):
        new["valueQuantity"] = {**new["valueQuantity"], "value": rng.randint(1, 200)}
    return new


def _change(rng: random.Random, chart: Chart, step: int, as_of: datetime) -> None:
    """Add a few Observations, replace one resource with a changed copy (its value, its code, its time: moved,
    zone-less or gone), remove one."""
    for n in range(rng.randint(1, 6)):
        resource = _variant(rng, chart, step * 10 + n, as_of)
        chart[_key(resource)] = resource
    key = rng.choice(sorted(chart))
    changed = copy.deepcopy(chart[key])
    if isinstance(changed.get("valueQuantity"), dict):
        changed["valueQuantity"]["value"] = rng.randint(1, 200)
    if changed["resourceType"] == "Observation":
        other = rng.choice([r for r in chart.values() if r["resourceType"] == "Observation"])
        when = (as_of - timedelta(minutes=rng.randint(0, 2000))).isoformat()
        change = rng.choice(["code", "time", "zoneless", "untimed", "value"])
        if change == "code":  # wanted by other models now (or by none)
            changed["code"], changed["category"] = (
                copy.deepcopy(other.get("code")),
                copy.deepcopy(other.get("category")),
            )
        elif change in ("time", "zoneless"):
            changed["effectiveDateTime"] = when if change == "time" else when[:19]
        elif change == "untimed":
            changed.pop("effectiveDateTime", None)
    chart[key] = changed
    del chart[rng.choice(sorted(chart))]


def _same(kept: KeptShares, chart: Chart, as_of: datetime) -> None:
    keys = sorted(chart)
    resources = [chart[k] for k in keys]
    facts = [resource_facts(r) for r in resources]
    kept.sync(keys, resources, facts)
    for definition in definitions():
        walked = model_share(parsed_resources(resources), definition.requirements, as_of)
        cut = model_share(ParsedResources(resources, facts, kept=kept), definition.requirements, as_of)
        assert [id(r) for r in cut.resources] == [id(r) for r in walked.resources], definition.name
        assert cut.index == walked.index, definition.name


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kept_shares_are_the_walked_shares_over_random_changes(seed: int, stay_resources: list[dict[str, Any]]) -> None:
    rng = random.Random(seed)
    chart = {_key(r): r for r in stay_resources + _odd_ones(stay_resources)}
    kept = KeptShares()
    as_of = AS_OF
    _same(kept, chart, as_of)
    for step in range(40):
        _change(rng, chart, step, as_of)
        as_of += timedelta(minutes=rng.choice([0, 1, 7, 60, -30, 24 * 60, -24 * 60]))  # Encounters in and out
        _same(kept, chart, as_of)


def test_a_model_first_asked_late_is_filed_from_what_is_known(stay_resources: list[dict[str, Any]]) -> None:
    rng = random.Random(7)
    chart = {_key(r): r for r in stay_resources + _odd_ones(stay_resources)}
    kept = KeptShares()
    for step in range(5):  # changes before any model asks (facts not read yet: read when filed)
        _change(rng, chart, step, AS_OF)
        keys = sorted(chart)
        kept.sync(keys, [chart[k] for k in keys], [None] * len(keys))
    _same(kept, chart, AS_OF)


def test_a_naive_as_of_is_refused(stay_resources: list[dict[str, Any]]) -> None:
    kept = KeptShares()
    with pytest.raises(ValueError, match="timezone-aware"):
        kept.share(next(iter(definitions())).requirements, AS_OF.replace(tzinfo=None))
