"""The Observation index every model reads: which FHIR shapes give a value, which are dropped, and when."""

import math
from typing import Any

import pytest

from scoring.features.fhir_index import index_observations, latest_value, parse_time

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
        ],
    )
    def test_a_value_that_is_not_a_finite_number_is_dropped(self, quantity: Any) -> None:
        resource = {**_obs("x", _loinc(HR)), "valueQuantity": quantity}
        assert _values([resource], "HR") == []

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
