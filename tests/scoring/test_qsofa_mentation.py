"""qSOFA's mentation input: the latest Glasgow coma score total charted at or before as-of, read from FHIR."""

from typing import Any

from scoring.catalogue import definition_of
from scoring.features.fhir_index import index_observations, parse_time
from scoring.features.spec import GCS_TOTAL

AS_OF = parse_time("2024-05-01T12:00:00Z") or 0.0


def _gcs(rid: str, value: Any, when: str, system: str = "http://loinc.org", code: str = GCS_TOTAL) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": system, "code": code}]},
        "valueQuantity": {"value": value, "unit": "{score}"},
        "effectiveDateTime": when,
    }


def _read(resources: list[dict[str, Any]]) -> Any:
    rule = definition_of("qsofa").rule
    assert rule is not None and rule.extra_key == "gcs"
    return rule.read_extra(resources, index_observations(resources, AS_OF), AS_OF)


class QsofaMentationTests:
    def test_the_latest_total_before_as_of_is_read(self) -> None:
        resources = [
            _gcs("early", 15, "2024-05-01T06:00:00Z"),
            _gcs("late", 13, "2024-05-01T11:00:00Z"),
            _gcs("future", 9, "2024-05-01T13:00:00Z"),
        ]
        assert _read(resources) == (13.0, parse_time("2024-05-01T11:00:00Z"), "Observation/late")

    def test_other_codes_systems_values_and_resources_are_ignored(self) -> None:
        resources = [
            _gcs("eye", 1, "2024-05-01T11:00:00Z", code="9267-6"),  # GCS eye, not the total
            _gcs("local", 8, "2024-05-01T11:00:00Z", system="urn:local"),
            _gcs("text", "13", "2024-05-01T11:00:00Z"),
            _gcs("untimed", 12, ""),
            {**_gcs("cond", 7, "2024-05-01T11:00:00Z"), "resourceType": "Condition"},
        ]
        assert _read(resources) is None

    def test_a_gcs_below_15_adds_the_mentation_point(self) -> None:
        rule = definition_of("qsofa").rule
        assert rule is not None
        gcs = _read([_gcs("late", 14, "2024-05-01T11:00:00Z")])
        with_gcs = rule.score({"resp_rate": 24, "sbp": 120, "gcs": gcs[0]})
        without = rule.score({"resp_rate": 24, "sbp": 120})
        assert (with_gcs.points, with_gcs.band, without.points) == (2, "high", 1)
        assert "Mentation (GCS) not recorded" in " ".join(without.notes) and not with_gcs.not_recorded


def test_news2_air_or_oxygen_carries_the_time_of_the_fio2_it_was_read_from() -> None:
    """Every NEWS2 driver carries the time of the value it used: "air or oxygen" is read from FiO2."""
    from scoring.features.spec import OBSERVATION_BY_COLUMN
    from scoring.serving.rules import _inputs

    fio2 = OBSERVATION_BY_COLUMN["FiO2"]
    obs = {
        "resourceType": "Observation",
        "id": "f1",
        "status": "final",
        "category": [{"coding": [{"code": fio2.category}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": fio2.loinc}]},
        "valueQuantity": {"value": 0.4, "unit": "1"},
        "effectiveDateTime": "2024-05-01T11:00:00Z",
    }
    rule = definition_of("news2").rule
    assert rule is not None
    values, _, times, _ = _inputs(rule, [obs], index_observations([obs], AS_OF), AS_OF)
    assert values["on_oxygen"] is True and times["on_oxygen"].isoformat() == "2024-05-01T11:00:00+00:00"
