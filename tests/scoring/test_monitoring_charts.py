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
