"""How the simulator's chart writes Observation values: readable precision, blood-pressure panels."""

from sandbox_ehr.ehr.chart import _value


def test_quantities_are_rounded_to_four_significant_digits() -> None:
    assert _value({"valueQuantity": {"value": 5.967548523312868, "unit": "{score}"}}) == "5.968 {score}"
    assert _value({"valueQuantity": {"value": 120, "code": "mm[Hg]"}}) == "120 mm[Hg]"


def test_a_blood_pressure_panel_shows_its_components() -> None:
    panel = {
        "component": [
            {"valueQuantity": {"value": 118.0, "unit": "mm[Hg]"}},
            {"valueQuantity": {"value": 79.0, "unit": "mm[Hg]"}},
        ]
    }
    assert _value(panel) == "118 mm[Hg] / 79 mm[Hg]"
    assert _value({"component": [{"valueQuantity": {"value": 118.0}}, {"code": {}}]}) == "—"  # incomplete
    assert _value({}) == "—"
