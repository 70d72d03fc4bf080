"""Each Observation is read once per call (`ObservationFacts`): the share and index a model gets are the same
whether the facts are read as the model needs them (a CDS call), all up front (the real-time state keeps them),
or once for several models and times (a hook's models, a trend)."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from scoring.catalogue import definition_of, definitions
from scoring.features.fhir_index import index_observations
from scoring.features.physionet_fhir import row_time
from scoring.features.select import ParsedResources, model_share, parsed_resources, resource_facts
from scoring.features.spec import GCS_TOTAL
from scoring.services import score_for_hook, score_with_shadows
from scoring.types import ScoreResult
from tests.scoring.conftest import START

AS_OF = row_time(START, 30)
LOINC = "http://loinc.org"


def _odd_ones(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Observations the readers treat specially, beside a real stay's: a voided one, one in an unknown unit, a
    panel with components, one without a zone, one with only `issued`, one after as-of, one category-less, and
    Glasgow coma scores (fetched by code: listed by code), one with GCS as the second of two codings."""
    hr = next(r for r in resources if r.get("resourceType") == "Observation" and "8867-4" in str(r.get("code")))
    when = (AS_OF - timedelta(hours=1)).isoformat()

    def variant(rid: str, **fields: Any) -> dict[str, Any]:
        return {**copy.deepcopy(hr), "id": rid, "effectiveDateTime": when, **fields}

    panel = variant("bp", code={"coding": [{"system": LOINC, "code": "85354-9"}]}, valueQuantity=None)
    panel["component"] = [
        {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]}, "valueQuantity": {"value": 91, "code": "mm[Hg]"}},
        {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]}, "valueQuantity": {"value": 52, "code": "kPa"}},
    ]
    return [
        variant("voided", status="entered-in-error", valueQuantity={"value": 199, "code": "/min"}),
        variant("odd-unit", valueQuantity={"value": 2, "code": "Hz"}),
        panel,
        variant("zoneless", effectiveDateTime=(AS_OF - timedelta(hours=2)).replace(tzinfo=None).isoformat()),
        variant("issued-only", effectiveDateTime=None, issued=when),
        variant("later", effectiveDateTime=(AS_OF + timedelta(hours=1)).isoformat()),
        variant("uncategorised", category=None),
        variant(
            "gcs", code={"coding": [{"system": LOINC, "code": GCS_TOTAL}]}, category=None, valueQuantity={"value": 13}
        ),
        variant(
            "gcs-second",
            code={"coding": [{"system": "urn:local", "code": "gcs"}, {"system": LOINC, "code": GCS_TOTAL}]},
            category=None,
            valueQuantity={"value": 14},
            effectiveDateTime=(AS_OF - timedelta(hours=3)).isoformat(),
        ),
    ]


def _eager(resources: list[dict[str, Any]]) -> ParsedResources:
    """Every Observation's facts read up front, as the real-time state keeps them."""
    return ParsedResources(resources, [resource_facts(r) for r in resources])


@pytest.fixture
def chart(stay_resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return stay_resources + _odd_ones(stay_resources)


@pytest.mark.parametrize("name", [d.name for d in definitions()])
def test_a_share_is_the_same_however_the_facts_were_read(name: str, chart: list[dict[str, Any]]) -> None:
    requirements = definition_of(name).requirements
    lazy = model_share(parsed_resources(chart), requirements, AS_OF)
    eager = model_share(_eager(chart), requirements, AS_OF)
    shared = parsed_resources(chart)
    for other in definitions():  # another model read some of the facts first
        model_share(shared, other.requirements, AS_OF - timedelta(hours=3))
    again = model_share(shared, requirements, AS_OF)
    assert lazy.resources == eager.resources == again.resources
    assert lazy.index == eager.index == again.index
    assert replace(lazy.index, listed=None, others=None) == index_observations(lazy.resources, AS_OF.timestamp())
    observations = [r for r in lazy.resources if r.get("resourceType") == "Observation"]
    assert lazy.index.others == [r for r in lazy.resources if r.get("resourceType") != "Observation"]
    assert lazy.index.listed == {  # each code fetched by code lists its Observations, in the share's order
        code: [r for r in observations if code in resource_facts(r).codes]  # type: ignore[union-attr]
        for code in requirements.observation_codes
    }


def test_the_odd_observations_are_read_as_the_index_reads_them(chart: list[dict[str, Any]]) -> None:
    share = model_share(parsed_resources(chart), definition_of("sepsis").requirements, AS_OF)
    ids = {r.get("id") for r in share.resources}
    assert {"voided", "odd-unit", "bp"} <= ids  # in the share: its index decides what counts
    assert not {"zoneless", "issued-only", "later"} & ids  # no zone, no effective time, after as-of
    refs = {ref for s in share.index.series.values() for ref in s.refs}
    assert "Observation/voided" not in refs and "Observation/odd-unit" not in refs
    sbp = share.index.series["SBP"]
    assert sbp.values[sbp.refs.index("Observation/bp")] == 91
    assert share.index.unconverted_units == {"HR": {"Hz"}, "DBP": {"kPa"}}


def test_an_observation_outside_every_look_back_is_not_read(chart: list[dict[str, Any]]) -> None:
    parsed = parsed_resources(chart)
    model_share(parsed, definition_of("news2").requirements, AS_OF)  # 12 h look-back: from 2021-03-02T00:00
    old = [
        i
        for i, r in enumerate(chart)
        if r["resourceType"] == "Observation" and (r.get("effectiveDateTime") or "") < "2021-03-01T23"
    ]
    assert old and all(parsed.facts[i] is None for i in old)


@pytest.mark.django_db
def test_models_sharing_one_parse_score_as_each_alone(registered: Any, chart: list[dict[str, Any]]) -> None:
    together = score_for_hook(hook="patient-view", resources=chart, as_of=AS_OF, patient_id="p", audit=False)
    for result in together.inferences:
        alone = score_with_shadows(
            model_name=result.model_name, resources=copy.deepcopy(chart), as_of=AS_OF, patient_id="p", audit=False
        )
        assert _seen(alone[0]) == _seen(result)


def _seen(result: ScoreResult) -> tuple[Any, ...]:
    return result.input_digest, result.probability, result.points, result.band, result.drivers, result.basis


def test_malformed_parts_are_skipped_never_an_error(chart: list[dict[str, Any]]) -> None:
    """Past the doors' shape check nothing malformed reaches scoring; other callers (a site export) may send it:
    a part that cannot be read is skipped, as the index always skipped it, and the others still count."""
    hr = next(r for r in chart if r.get("resourceType") == "Observation" and "8867-4" in str(r.get("code")))
    when = (AS_OF - timedelta(hours=1)).isoformat()
    odd = [
        {**copy.deepcopy(hr), "id": "status", "effectiveDateTime": when, "status": {"code": "final"}},
        {**copy.deepcopy(hr), "id": "unit", "effectiveDateTime": when, "valueQuantity": {"value": 7, "code": {"x": 1}}},
        {
            **copy.deepcopy(hr),
            "id": "code",
            "effectiveDateTime": when,
            "code": {"coding": [{"system": LOINC, "code": 5}]},
        },
        {**copy.deepcopy(hr), "id": "nested", "effectiveDateTime": when, "category": [hr["category"]]},
        {**copy.deepcopy(hr), "id": "time", "effectiveDateTime": {"at": when}},
    ]
    share = model_share(parsed_resources(chart + odd), definition_of("sepsis").requirements, AS_OF)
    ids = {r.get("id") for r in share.resources}
    assert {"status", "unit", "code"} <= ids and not {"nested", "time"} & ids  # nested lists are not categories
    refs = share.index.series["HR"].refs
    assert "Observation/status" in refs and "Observation/unit" not in refs and "Observation/code" not in refs
    assert "{'x': 1}" in share.index.unconverted_units["HR"]  # beside the chart's own odd unit, Hz


def test_an_empty_effective_time_is_absent_even_when_the_time_memo_holds_it(chart: list[dict[str, Any]]) -> None:
    """An empty effectiveDateTime counts as absent (FHIR forbids empty strings), so the time is the instant's, even
    when the call's time memo already holds the empty text (read as another Observation's `issued`)."""
    hr = next(r for r in chart if r.get("resourceType") == "Observation" and "8867-4" in str(r.get("code")))
    instant = (AS_OF - timedelta(hours=1)).isoformat()
    obs = {**copy.deepcopy(hr), "id": "instant", "effectiveDateTime": "", "effectiveInstant": instant}
    parsed = ParsedResources([obs], [None], times={"": (None, None)})
    assert obs in model_share(parsed, definition_of("news2").requirements, AS_OF).resources
