"""The Observation index every model reads: which FHIR shapes give a value, which are dropped, and when."""

import copy
import math
import random
from typing import Any

import pytest

from scoring.features import fhir_index
from scoring.features.fhir_index import (
    COLUMN_UNIT,
    _facts,
    convert,
    index_observations,
    latest_value,
    observation_facts,
    parse_time,
)
from scoring.features.spec import UNIT_ALIASES, UNIT_CONVERSIONS

AS_OF = parse_time("2024-05-01T12:00:00Z") or 0.0
HR, SBP, DBP, TEMP, SAO2, O2SAT = "8867-4", "8480-6", "8462-4", "8310-5", "2708-6", "59408-5"
VITAL = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}]


def _loinc(code: str) -> dict[str, Any]:
    return {"coding": [{"system": "http://loinc.org", "code": code}]}


def _obs(rid: str, code: Any, value: Any = 80, unit: str | None = "/min", **fields: Any) -> dict[str, Any]:
    quantity = {"value": value} if unit is None else {"value": value, "unit": unit}
    base = {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": code,
        "valueQuantity": quantity,
        "effectiveDateTime": "2024-05-01T10:00:00Z",
    }
    return {**base, **fields}


def _values(resources: list[dict[str, Any]], column: str) -> list[float]:
    series = index_observations(resources, AS_OF).series.get(column)
    return series.values if series else []


class ParseTimeTests:
    @pytest.mark.parametrize("text", [None, "", "yesterday", "2024-13-01"])
    def test_unusable_text_is_none(self, text: str | None) -> None:
        assert parse_time(text) is None

    def test_a_time_without_zone_is_utc(self) -> None:
        assert parse_time("2024-05-01T12:00:00") == parse_time("2024-05-01T12:00:00+00:00") == AS_OF


class WhenTests:
    def test_the_time_comes_from_the_datetime_then_instant_then_period_start_then_issued(self) -> None:
        resources = [
            _obs("instant", _loinc(HR), 71, effectiveDateTime=None, effectiveInstant="2024-05-01T09:00:00Z"),
            _obs("period", _loinc(HR), 72, effectiveDateTime=None, effectivePeriod={"start": "2024-05-01T08:00:00Z"}),
            _obs("issued", _loinc(HR), 73, effectiveDateTime=None, issued="2024-05-01T07:00:00Z"),
            _obs("dated", _loinc(HR), 74, effectiveDateTime="2024-05-01T11:00:00Z"),
        ]
        index = index_observations(resources, AS_OF)
        assert index.series["HR"].values == [73, 72, 71, 74]  # sorted by the time each one chose
        assert index.series["HR"].refs[0] == "Observation/issued"

    def test_without_a_usable_time_or_after_as_of_it_is_dropped(self) -> None:
        resources = [
            _obs("untimed", _loinc(HR), effectiveDateTime=None),
            _obs("no-period-start", _loinc(HR), effectiveDateTime=None, effectivePeriod="2024-05-01"),
            _obs("garbled", _loinc(HR), effectiveDateTime="last Tuesday"),
            _obs("future", _loinc(HR), effectiveDateTime="2024-05-01T12:00:01Z"),
            _obs("at-as-of", _loinc(HR), 90, effectiveDateTime="2024-05-01T12:00:00Z"),
        ]
        assert _values(resources, "HR") == [90]

    def test_latest_value_at_a_time(self) -> None:
        index = index_observations(
            [
                _obs("a", _loinc(HR), 70, effectiveDateTime="2024-05-01T09:00:00Z"),
                _obs("b", _loinc(HR), 95, effectiveDateTime="2024-05-01T11:00:00Z"),
            ],
            AS_OF,
        )
        at_ten = parse_time("2024-05-01T10:00:00Z") or 0.0
        assert latest_value(index, "HR", at_ten) == (70, parse_time("2024-05-01T09:00:00Z"), "Observation/a")
        assert latest_value(index, "HR", at_ten - 7200) is None and latest_value(index, "Lactate", AS_OF) is None


class WhatTests:
    @pytest.mark.parametrize(
        "quantity",
        [
            None,
            "80 /min",
            {"unit": "/min"},
            {"value": True, "unit": "/min"},
            {"value": "80", "unit": "/min"},
            {"value": math.nan, "unit": "/min"},
            {"value": math.inf, "unit": "/min"},
            {"value": 10**400, "unit": "/min"},  # past what a float holds (JSON parsers give such an int)
            {"value": 10**400, "unit": "furlong"},
        ],
    )
    def test_a_value_that_is_not_a_finite_number_is_dropped(self, quantity: Any) -> None:
        resource = {**_obs("x", _loinc(HR)), "valueQuantity": quantity}
        index = index_observations([resource], AS_OF)
        assert "HR" not in index.series and not index.unconverted_units

    def test_units_are_converted_or_reported_never_guessed(self) -> None:
        resources = [
            _obs("f", _loinc(TEMP), 98.6, "[degF]"),
            _obs("c", _loinc(TEMP), 37.5, "degC"),
            _obs("k", _loinc(TEMP), 310.0, "K"),
            _obs("none", _loinc(TEMP), 36.9, None),
        ]
        index = index_observations(resources, AS_OF)
        assert [round(v, 2) for v in index.series["Temp"].values] == [37.0, 37.5, 36.9]
        assert index.unconverted_units == {"Temp": {"K"}}

    def test_every_unit_of_the_spec_tables_is_read_as_they_say(self) -> None:
        for (column, unit), (factor, offset) in UNIT_CONVERSIONS.items():
            expected = 10.0 if unit == COLUMN_UNIT[column] else 10.0 * factor + offset
            assert convert(column, 10.0, unit) == expected, (column, unit)
        for column, canonical in COLUMN_UNIT.items():
            assert convert(column, 10.0, canonical) == convert(column, 10.0, None) == 10.0
            for alias, meant in UNIT_ALIASES.items():
                assert convert(column, 10.0, alias) == convert(column, 10.0, meant), (column, alias)
            assert convert(column, 10.0, "furlong/fortnight") is None
        assert convert("BUN", 10.0, "mEq/L") == 10.0 * 2.802  # an alias of a converted unit

    def test_a_unit_that_is_not_text_is_reported_as_text(self) -> None:
        index = index_observations(
            [_obs("n", _loinc(TEMP), 37.5, unit=None, valueQuantity={"value": 37.5, "code": 7})], AS_OF
        )
        assert index.unconverted_units == {"Temp": {"7"}} and "Temp" not in index.series

    def test_codes_are_read_from_loinc_codings_only(self) -> None:
        mixed = {
            "coding": [
                {"system": "http://snomed.info/sct", "code": "364075005"},
                "junk",
                {"system": "http://loinc.org", "code": HR},
            ]
        }
        local_only = {"coding": [{"system": "urn:local", "code": HR}]}
        resources = [
            _obs("mixed", mixed, 81),
            _obs("local", local_only, 82),
            _obs("text", "heart rate", 83),
            _obs("many-local", {"coding": [{"system": "urn:a", "code": HR}, {"system": "urn:b"}]}, 84),
        ]
        assert _values(resources, "HR") == [81]

    def test_2708_6_is_pulse_oximetry_in_vital_signs_and_arterial_blood_otherwise(self) -> None:
        resources = [
            _obs("vital", _loinc(SAO2), 96, "%", category=VITAL),
            _obs("lab", _loinc(SAO2), 91, "%"),
            _obs("both-codes", {"coding": [_loinc(SAO2)["coding"][0], _loinc(O2SAT)["coding"][0]]}, 0.97, "1"),
        ]
        index = index_observations(resources, AS_OF)
        assert sorted(index.series["O2Sat"].values) == [96, 97] and index.series["SaO2"].values == [91]

    def test_blood_pressure_components_share_the_panels_time_and_reference(self) -> None:
        panel = {
            **_obs("bp", _loinc("85354-9")),
            "valueQuantity": None,
            "component": [
                {"code": _loinc(SBP), "valueQuantity": {"value": 120, "unit": "mmHg"}},
                {"code": _loinc(DBP), "valueQuantity": {"value": 80, "unit": "mm[Hg]"}},
                "not a component",
            ],
        }
        index = index_observations([panel], AS_OF)
        assert (index.series["SBP"].values, index.series["DBP"].values) == ([120], [80])
        assert index.series["SBP"].refs == index.series["DBP"].refs == ["Observation/bp"]

    @pytest.mark.parametrize("status", ["entered-in-error", "cancelled", "registered"])
    def test_observations_that_are_not_results_are_skipped(self, status: str) -> None:
        assert _values([_obs("x", _loinc(HR), status=status)], "HR") == []

    def test_other_resources_are_ignored(self) -> None:
        assert index_observations([{**_obs("x", _loinc(HR)), "resourceType": "Condition"}], AS_OF).series == {}


JUNK: list[Any] = [
    None, "", "x", 0, 1, 1.5, math.nan, math.inf, True, 10**30, 10**400, [], {}, [{}], {"coding": []},
    [{"coding": [{"code": 5}]}], "2024-05-01T10:00:00", "2024-05-01T10:00:00Z", "2024-05-01T10:00:00+02:00",
    "/min", "mm[Hg]", "Cel", "[degF]", "kPa", "final", "entered-in-error", "http://loinc.org", HR, SAO2, O2SAT, TEMP,
    "vital-signs", {"value": 7}, {"value": 37.5, "code": "Cel"}, {"value": 99, "unit": "[degF]"}, [{"value": 1}],
]  # fmt: skip
PATHS: list[tuple[Any, ...]] = [
    ("category",), ("category", 0), ("category", 0, "coding"), ("category", 0, "coding", 0),
    ("category", 0, "coding", 0, "code"), ("code",), ("code", "coding"), ("code", "coding", 0),
    ("code", "coding", 0, "system"), ("code", "coding", 0, "code"), ("code", "coding", 1), ("status",),
    ("effectiveDateTime",), ("effectiveInstant",), ("effectivePeriod",), ("issued",), ("valueQuantity",),
    ("valueQuantity", "value"), ("valueQuantity", "code"), ("valueQuantity", "unit"), ("component",), ("id",),
]  # fmt: skip


def _mutate(rng: random.Random, obs: dict[str, Any]) -> None:
    """Set (or delete) one random part of `obs` to a random value, where its parents are containers."""
    *parents, last = rng.choice(PATHS)
    holder: Any = obs
    for step in parents:
        try:
            holder = holder[step]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(holder, dict):
        if rng.random() < 0.2:
            holder.pop(last, None)
        else:
            holder[last] = copy.deepcopy(rng.choice(JUNK))
    elif isinstance(holder, list) and isinstance(last, int) and last < len(holder):
        holder[last] = copy.deepcopy(rng.choice(JUNK))
    elif isinstance(holder, list) and isinstance(last, int):
        holder.append(copy.deepcopy(rng.choice(JUNK)))


def _read(reader: Any, obs: dict[str, Any], effective: float | None) -> Any:
    try:
        return reader(obs, {}, effective)
    except Exception as exc:  # both readers must fail alike
        return type(exc)


@pytest.mark.parametrize("seed", range(4))
def test_the_usual_observation_reader_reads_as_the_general_one(
    seed: int, stay_resources: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`observation_facts` reads the usual shapes inline: on a real stay's Observations and on random malformed
    variants of them it gives what the general reader (`_facts`) gives, an error included."""
    general: list[int] = []  # the calls observation_facts hands to the general reader

    def counted(*args: Any) -> Any:
        general.append(1)
        return _facts(*args)

    monkeypatch.setattr(fhir_index, "_facts", counted)
    rng = random.Random(seed)
    observations = [r for r in stay_resources if r["resourceType"] == "Observation"]
    usual = observations[0]
    for edge in (  # the general reader's own cases, each beside the usual shape
        {"effectiveDateTime": "", "issued": "2024-05-01T09:00:00Z"},
        {"effectiveDateTime": None, "effectiveInstant": "2024-05-01T09:00:00Z"},
        {"code": _loinc(SAO2), "valueQuantity": {"value": 97, "unit": "%"}},
        {"valueQuantity": {"value": True, "unit": "/min"}},
        {"status": ["final"]},
        {"component": [{"code": _loinc(SBP), "valueQuantity": {"value": 120, "unit": "mm[Hg]"}}]},
    ):
        variant = {**copy.deepcopy(usual), **edge}
        assert _read(observation_facts, variant, None) == _read(_facts, variant, None), edge
    inline = 0
    for _ in range(2500):
        obs = copy.deepcopy(rng.choice(observations))
        for _step in range(rng.choice([0, 1, 1, 2, 3])):
            _mutate(rng, obs)
        effective = rng.choice([None, None, None, AS_OF - 3600])
        before = len(general)
        assert _read(observation_facts, obs, effective) == _read(_facts, obs, effective), obs
        inline += len(general) == before
    assert 800 < inline < 2400  # both readers were exercised
