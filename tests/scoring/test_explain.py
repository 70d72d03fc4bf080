"""Driver wording: values rounded per unit, clinical labels, missing measurements said honestly."""

import numpy as np
import pytest

from scoring.features.spec import READMISSION_FEATURES, SEPSIS_FEATURES
from scoring.serving.explain import driver_words, drivers, quantity_text

SEPSIS = {f.name: f for f in SEPSIS_FEATURES}
READMISSION = {f.name: f for f in READMISSION_FEATURES}


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (24.4118, "h", "24.4 h"),
        (38.249, "Cel", "38.2 °C"),
        (117.6, "/min", "118/min"),
        (93.4, "%", "93%"),
        (104.5, "mm[Hg]", "104 mmHg"),
        (7.3149, "[pH]", "7.31"),
        (4.123, "mmol/L", "4.1 mmol/L"),
        (0.0412, "ng/mL", "0.041 ng/mL"),
        (23.04, "mg/dL", "23 mg/dL"),
        (12.34, "10*3/uL", "12.3 ×10³/µL"),
        (250.4, "10*3/uL", "250 ×10³/µL"),
        (0.35, "1", "0.35"),
        (3.0, "1", "3"),
        (67.2, "a", "67 years"),
    ],
)
def test_quantity_rounded_per_unit(value, unit, expected):
    assert quantity_text(value, unit) == expected


def test_trend_is_signed():
    assert quantity_text(12.4, "/min", signed=True) == "+12/min"
    assert quantity_text(-0.44, "Cel", signed=True) == "-0.4 °C"


@pytest.mark.parametrize(
    ("name", "value", "age", "label", "value_text", "text"),
    [
        ("icu_los_hours", 24.4118, None, "Time since admission", "24.4 h", "Time since admission 24.4 h, lowers risk"),
        (
            "FiO2_hours_since",
            None,
            None,
            "FiO2",
            "not measured in the last 72 h",
            "FiO2 not measured in the last 72 h, lowers risk",
        ),
        (
            "Lactate_hours_since",
            None,
            None,
            "Lactate",
            "not measured in the last 72 h",
            "Lactate not measured in the last 72 h, lowers risk",
        ),
        (
            "Lactate_hours_since",
            5.04,
            5.04,
            "Time since last Lactate",
            "5.0 h",
            "Lactate last measured 5.0 h ago, lowers risk",
        ),
        (
            "Lactate_missing",
            1.0,
            None,
            "Lactate",
            "not measured in the last 72 h",
            "Lactate not measured in the last 72 h, lowers risk",
        ),
        (
            "Lactate_missing",
            0.0,
            None,
            "Lactate",
            "measured in the last 72 h",
            "Lactate measured in the last 72 h, lowers risk",
        ),
        ("Lactate_last", 4.123, 2.2, "Lactate", "4.1 mmol/L", "Lactate 4.1 mmol/L, 2 h ago, lowers risk"),
        (
            "HR_max_6h",
            None,
            None,
            "Heart rate max over 6 h",
            "not measured in the last 6 h",
            "Heart rate max over 6 h not measured in the last 6 h, lowers risk",
        ),
        ("Temp_last", 38.25, 0.5, "Temperature", "38.2 °C", "Temperature 38.2 °C, within the last hour, lowers risk"),
    ],
)
def test_sepsis_driver_words(name, value, age, label, value_text, text):
    assert driver_words(SEPSIS[name], value, age, "lowers") == (label, value_text, text)


def test_readmission_driver_words():
    assert driver_words(READMISSION["age_band_mid"], 65.0, None, "raises")[1] == "60–69 years"
    assert driver_words(READMISSION["discharged_home"], 1.0, None, "raises")[2] == "Discharged home: yes, raises risk"


def test_drivers_keep_numbers_and_text_consistent():
    spec = (SEPSIS["icu_los_hours"], SEPSIS["FiO2_hours_since"], SEPSIS["Lactate_last"])
    contribs = np.array([-0.3, -0.5, 0.9, 0.1])
    out = drivers(spec, [24.4118, float("nan"), 4.123], contribs, {"Lactate_last": 2.0})
    assert [d.feature for d in out] == ["Lactate_last", "FiO2_hours_since", "icu_los_hours"]
    assert [d.contribution for d in out] == [0.9, -0.5, -0.3]  # exact SHAP values, unchanged
    assert [d.value for d in out] == [4.123, None, 24.4118]  # raw values, unchanged
    for d in out:
        assert d.value_text in d.text and d.text.endswith(f"{d.direction} risk")


def test_context_inputs_come_after_the_clinical_drivers_and_are_marked():
    """Charting and time inputs (how often / how long ago measured, time since admission) are never presented as
    the clinical reason: the top clinical drivers come first, the context ones after them, marked."""
    from scoring.features.spec import CONTEXT_AGGREGATIONS
    from scoring.presentation import clinical_drivers, context_text
    from scoring.types import ScoreResult

    spec = list(SEPSIS_FEATURES)
    context = [j for j, f in enumerate(spec) if f.aggregation in CONTEXT_AGGREGATIONS]
    clinical = [j for j, f in enumerate(spec) if f.aggregation not in CONTEXT_AGGREGATIONS]
    contribs = np.zeros(len(spec) + 1)
    contribs[context[:4]] = [2.0, -1.8, 1.6, 1.4]  # the four largest effects are charting inputs
    contribs[clinical[:6]] = [0.6, -0.5, 0.4, 0.3, 0.2, 0.1]
    values = [1.0] * len(spec)
    out = drivers(spec, values, contribs, {})
    assert [d.context for d in out] == [False] * 5 + [True] * 3
    assert [d.feature for d in out[:5]] == [spec[j].name for j in clinical[:5]]
    result = ScoreResult(
        model_name="sepsis",
        model_version="1",
        model_sha256="",
        spec_version="s",
        model_status="active",
        kind="ml",
        title="Sepsis risk",
        as_of=None,  # type: ignore[arg-type]
        scored=True,
        probability=0.2,
        points=None,
        band="high",
        indicator="critical",
        summary="",
        horizon_hours=6,
        provider="cpu",
        drivers=out,
    )
    assert clinical_drivers(result) == list(out[:5])
    line = context_text(result)
    assert line.count(";") == 2 and "risk" not in line and line.endswith(".")


@pytest.mark.parametrize(
    ("band", "probability", "points", "expected"),
    [
        ("high", 0.34, None, "High: ≥ 2.8 % (base rate 2.2 % in held-out training-site data)"),
        ("moderate", 0.02, None, "Moderate: ≥ 1.6 %, below 2.8 % (base rate 2.2 % in held-out training-site data)"),
        ("low", 0.004, None, "Low: below 1.6 % (high from 2.8 %; base rate 2.2 % in held-out training-site data)"),
        ("high", None, 7.0, "High: ≥ 7 points"),
    ],
)
def test_band_text_shows_cutoffs_and_the_base_rate(band, probability, points, expected):
    from scoring.presentation import band_text
    from scoring.types import ScoreResult

    ml = probability is not None
    result = ScoreResult(
        model_name="m",
        model_version="1",
        model_sha256="",
        spec_version="s",
        model_status="active",
        kind="ml" if ml else "rule",
        title="t",
        as_of=None,  # type: ignore[arg-type]
        scored=True,
        probability=probability,
        points=points,
        band=band,
        indicator="info",
        summary="",
        horizon_hours=None,
        provider="cpu",
        cutoffs=(0.0159, 0.0278) if ml else (5.0, 7.0),
        base_rate=0.0222 if ml else None,
    )
    assert band_text(result) == expected


def test_one_day_is_singular():
    assert quantity_text(1.0, "d") == "1 day" and quantity_text(3.0, "d") == "3 days"


def test_a_negative_number_of_drivers_is_refused():
    spec = list(SEPSIS_FEATURES)
    with pytest.raises(ValueError, match="top must be 0 or more"):
        drivers(spec, [1.0] * len(spec), np.ones(len(spec) + 1), {}, top=-1)
