"""The monitoring page's SVG charts: colours by the PSI convention, escaped labels, one bar pair per bin."""

from __future__ import annotations

from datetime import UTC, datetime

from scoring.models import DriftRun
from scoring.monitoring.charts import heatmap_svg, psi_colour, shares_svg


def test_psi_colours_follow_the_convention() -> None:
    assert [psi_colour(v) for v in (None, 0.05, 0.1, 0.3)] == ["#dddddd", "#67a96b", "#e6a23c", "#c0392b"]


def test_heatmap_has_a_cell_per_column_and_run_and_escapes_names() -> None:
    runs = [
        DriftRun(created_at=datetime(2026, 1, d, tzinfo=UTC), results={"a<b": {"psi": 0.3}, "c": {}}) for d in (1, 2)
    ]
    svg = heatmap_svg(runs, ["a<b", "c"])
    assert svg.count("<rect") == 4 and "a&lt;b: PSI 0.300" in svg and "c: not tested" in svg and "a<b" not in svg


def test_shares_chart_draws_reference_and_served_per_bin() -> None:
    svg = shares_svg([0.5, 0.5], [0.2, 0.8], [0.1])
    assert svg.count("<rect") == 4 and "80.0%" in svg and "&gt;0.1" in svg


def test_calibration_chart_draws_both_curves_on_a_fitting_axis() -> None:
    from scoring.monitoring.charts import calibration_svg

    bins = [{"predicted": 0.05, "observed": 0.04, "n": 10}, {"predicted": 0.15, "observed": 0.09, "n": 50}]
    svg = calibration_svg(bins, [*bins[:1], {"predicted": 0.9, "observed": 1.0, "n": 2}], "internal<set>")
    assert svg.count("<circle") == 3 and "predicted (0 to 0.2)" in svg and "internal&lt;set&gt;" in svg


def test_subgroup_intervals_and_burden_charts() -> None:
    from scoring.monitoring.charts import burden_svg, intervals_svg

    svg = intervals_svg([("male", {"value": 0.7, "ci": [0.6, 0.8]}, 0.79), ("a<b", {"value": None, "ci": None}, None)])
    assert "0.700 (95% CI 0.600 to 0.800)" in svg and "bound 0.790" in svg and "a&lt;b" in svg
    runs = [
        DriftRun(
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
            results={"alerts": {"alerts_per_100": 5.0, "alerts": 2, "ppv": {"value": 0.5}}},
        ),
        DriftRun(created_at=datetime(2026, 1, 2, tzinfo=UTC), results={}),
    ]
    burden = burden_svg(runs)
    assert burden.count("<rect") == 2 and "PPV 50.0%" in burden and "PPV not labelled yet" in burden
    assert "max 5.0 per 100" in burden and "no alerts raised" in burden_svg(runs[1:])
