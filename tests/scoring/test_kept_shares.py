"""Shares kept between calls (`KeptShares`, the real-time door's) are the shares `model_share` gives: the same
resources in the same order and the same index, for every catalogue model, over random additions, replacements
and removals of a real stay's resources (and the readers' odd Observations) at moving as-of times."""

from __future__ import annotations

import copy
import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from scoring.catalogue import definition_of, definitions
from scoring.features.kept import KeptShares
from scoring.features.select import ParsedResources, model_share, parsed_resources, resource_facts
from scoring.features.spec import GCS_TOTAL
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


def test_observations_listed_by_code_follow_every_change(stay_resources: list[dict[str, Any]]) -> None:
    """The Observations a model fetches by code (qSOFA's GCS) are listed by code: in, changed, recoded either way,
    moved out of the look-back, and removed."""
    chart = {_key(r): r for r in stay_resources + _odd_ones(stay_resources)}
    kept = KeptShares()
    _same(kept, chart, AS_OF)
    gcs = chart["Observation/gcs"]
    steps: list[tuple[str, dict[str, Any]]] = [
        ("Observation/gcs-new", {**copy.deepcopy(gcs), "id": "gcs-new", "valueQuantity": {"value": 9}}),
        ("Observation/gcs", {**copy.deepcopy(gcs), "valueQuantity": {"value": 15}}),  # changed value
        ("Observation/gcs", {**copy.deepcopy(gcs), "code": copy.deepcopy(chart["Observation/odd-unit"]["code"])}),
        ("Observation/odd-unit", {**copy.deepcopy(chart["Observation/odd-unit"]), "code": copy.deepcopy(gcs["code"])}),
        ("Observation/gcs-new", {**copy.deepcopy(gcs), "id": "gcs-new", "effectiveDateTime": "2001-01-01T00:00:00Z"}),
    ]
    listed = []
    for key, resource in steps:
        chart[key] = resource
        _same(kept, chart, AS_OF)
        index = kept.share(definition_of("qsofa").requirements, AS_OF).index
        listed.append([r["id"] for r in (index.listed or {})[GCS_TOTAL]])
    assert listed == [
        ["gcs", "gcs-new", "gcs-second"],
        ["gcs", "gcs-new", "gcs-second"],
        ["gcs-new", "gcs-second"],
        ["gcs-new", "gcs-second", "odd-unit"],
        ["gcs-second", "odd-unit"],
    ]
    for key in ("Observation/gcs-second", "Observation/odd-unit"):
        del chart[key]
        _same(kept, chart, AS_OF)


def test_a_share_given_lists_what_was_kept_when_it_was_given(stay_resources: list[dict[str, Any]]) -> None:
    """A kept share lists its Observations when first read, as they were when it was given: a later change to
    what is kept does not reach it."""
    chart = {_key(r): r for r in stay_resources}
    keys = sorted(chart)
    kept = KeptShares()
    kept.sync(keys, [chart[k] for k in keys], [None] * len(keys))
    requirements = definition_of("sepsis").requirements
    given = kept.share(requirements, AS_OF)
    walked = model_share(parsed_resources([chart[k] for k in keys]), requirements, AS_OF)
    newer = _variant(random.Random(3), chart, 1, AS_OF)
    chart[_key(newer)] = newer
    kept.update([(_key(newer), newer, None)])
    assert [id(r) for r in given.resources] == [id(r) for r in walked.resources]
    assert given.resources == walked.resources and len(given.resources) == len(walked.resources)
    assert any(r is newer for r in kept.share(requirements, AS_OF).resources)


def test_a_naive_as_of_is_refused(stay_resources: list[dict[str, Any]]) -> None:
    kept = KeptShares()
    with pytest.raises(ValueError, match="timezone-aware"):
        kept.share(next(iter(definitions())).requirements, AS_OF.replace(tzinfo=None))
