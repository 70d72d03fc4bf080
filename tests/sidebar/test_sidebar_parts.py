"""Pure parts of the sidebar and the texts it shares with the cards: value words, refusal reasons, freshness,
the as-of selection, SVG escaping, the trend's audit entries."""

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from scoring import presentation
from scoring.catalogue import DataRequirements
from scoring.features.select import resources_for
from scoring.trend import trend_audit_entries
from scoring.types import Driver, ScoreResult
from sidebar.panels import driver_rows
from sidebar.svg import driver_bar_svg, trend_svg

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _result(**overrides: Any) -> ScoreResult:
    base: dict[str, Any] = dict(
        model_name="sepsis",
        model_version="1.0.0",
        model_sha256="",
        spec_version="2025.1",
        model_status="active",
        kind="ml",
        title="Sepsis risk",
        as_of=NOW,
        scored=True,
        probability=0.34,
        points=None,
        band="high",
        indicator="critical",
        summary="Sepsis risk HIGH: 34% in next 6 h",
        horizon_hours=6,
        provider="cpu",
        drivers=(
            Driver("lactate_last", "Lactate", 4.1, "mmol/L", 2.0, 0.8, "raises", "Lactate 4.1 mmol/L"),
            Driver("hr_last", "Heart rate", 72, "/min", 0.5, -0.2, "lowers", "Heart rate 72 /min"),
        ),
        data_times={"lactate_last": NOW - timedelta(hours=2), "hr_last": NOW - timedelta(minutes=30)},
    )
    return ScoreResult(**(base | overrides))


def test_value_words() -> None:
    assert presentation.value_text(_result()) == "34%"
    assert presentation.value_text(_result(probability=0.0041)) == "<1%"  # never "0%": no estimate is certain
    assert presentation.value_text(_result(probability=0.0051)) == "1%"
    assert presentation.value_text(_result(probability=0.9951)) == ">99%"
    assert presentation.value_text(_result(kind="rule", probability=None, points=1.0)) == "1 point"
    assert presentation.value_text(_result(kind="rule", probability=None, points=5.0)) == "5 points"
    assert presentation.value_text(_result(scored=False, probability=None)) == "Not scored"


def test_not_scored_reasons_name_missing_and_stale_inputs() -> None:
    reasons = presentation.not_scored_reasons(
        _result(
            scored=False, probability=None, reasons=("Too little data.",), missing=("Lactate",), stale=("Heart rate",)
        )
    )
    assert reasons == ["Too little data.", "Missing: Lactate.", "Too old: Heart rate."]
    assert presentation.not_scored_reasons(_result()) == []


def test_freshness_and_driver_rows() -> None:
    result = _result()
    # One wording with the CDS card (scoring.presentation): the sidebar used to say it differently.
    assert presentation.freshness_text(result.data_times, result.as_of) == (
        "newest input 30 min ago, oldest used 2 h ago (as of 2025-03-01 12:00 UTC)."
    )
    rows = driver_rows(result)
    assert [r["label"] for r in rows] == ["Lactate", "Heart rate"]  # by |contribution|
    assert rows[0]["value"] == "4.1 mmol/L" and rows[0]["when"] == "2 h ago"
    assert rows[0]["taken_at"] == "01 Mar 10:00 UTC"
    assert rows[0]["taken_utc"] == "2025-03-01 10:00 UTC"
    assert 'width="120.0"' in rows[0]["bar"] and 'width="30.0"' in rows[1]["bar"]


def test_resources_as_of_drops_later_observations() -> None:
    def obs(hours: int) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "effectiveDateTime": (NOW - timedelta(hours=hours)).isoformat(),
            "category": [{"coding": [{"code": "vital-signs"}]}],
        }

    needs = DataRequirements(("Patient", "Observation"), ("vital-signs",), (), 24.0)
    kept = resources_for(
        [{"resourceType": "Patient"}, obs(5), obs(1), {"resourceType": "Observation"}, obs(30)],
        needs,
        NOW - timedelta(hours=2),
    )
    assert kept == [{"resourceType": "Patient"}, obs(5)]  # not later, not undated, not beyond the look-back


def test_trend_svg_escapes_and_marks_unscored_times() -> None:
    points = [(NOW - timedelta(hours=4), 0.1), (NOW - timedelta(hours=2), None), (NOW, 0.3)]
    svg = trend_svg(points, kind="ml", title="<script>x</script>")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "not scored at 10:00" in svg and svg.count("<circle") == 2 and "from 10% to 30%" in svg
    assert trend_svg(points[:1], kind="ml", title="t") == ""
    low = trend_svg([(NOW - timedelta(hours=2), 0.002), (NOW, 0.003)], kind="ml", title="t")
    assert "from &lt;1% to &lt;1%" in low and ": &lt;1%</title>" in low and "<1%" not in low  # escaped, never 0%
    assert ">0%</text>" in low  # the axis still starts at 0%


def test_driver_bar_is_proportional() -> None:
    assert 'width="60.0"' in driver_bar_svg(0.5, 1.0, direction="raises")
    assert "#0b5cad" in driver_bar_svg(-0.5, 1.0, direction="lowers")


def test_score_audit_entries_one_per_score_now_and_one_trend_summary_per_model_version() -> None:
    now = [
        _result(input_digest="d-now"),
        _result(
            model_name="news2",
            model_version="rcp-2017",
            kind="rule",
            probability=None,
            points=5.0,
            input_digest="n-now",
        ),
    ]
    earlier = [NOW - timedelta(hours=4), NOW - timedelta(hours=2)]
    trend = [
        (
            at,
            [
                _result(as_of=at, input_digest=f"d{i}"),
                _result(
                    as_of=at,
                    model_version="2.0.0",
                    model_status="shadow",
                    scored=False,
                    probability=None,
                    band=None,
                    input_digest=f"s{i}",
                ),
            ],
        )
        for i, at in enumerate(earlier)
    ]
    entries = trend_audit_entries(now, trend, patient_id="p1", actor="Practitioner/x")
    assert [(e["model_name"], e["model_version"], e["detail"]["source"]) for e in entries] == [
        ("sepsis", "1.0.0", "sidebar"),
        ("news2", "rcp-2017", "sidebar"),
        ("sepsis", "1.0.0", "sidebar_trend"),
        ("sepsis", "2.0.0", "sidebar_trend"),
    ]
    assert all(e["action"] == "score" and e["patient_id"] == "p1" and e["actor"] == "Practitioner/x" for e in entries)
    assert entries[0]["input_digest"] == "d-now" and entries[0]["output_summary"]["probability"] == 0.34
    active, shadow = entries[2], entries[3]
    assert active["outcome"] == "success" and shadow["outcome"] == "not_scored"
    assert shadow["output_summary"]["status"] == "shadow"
    assert [p["as_of"] for p in active["output_summary"]["points"]] == [at.isoformat() for at in earlier]
    assert [p["input_digest"] for p in active["output_summary"]["points"]] == ["d0", "d1"]
    assert active["input_digest"] == hashlib.sha256(b"d0\nd1").hexdigest()
    assert active["detail"]["from"] == earlier[0].isoformat() and active["detail"]["to"] == earlier[1].isoformat()


def test_times_read_in_the_ehrs_time_zone_with_utc_beside(settings: Any) -> None:
    settings.DISPLAY_TIME_ZONE = "Europe/Paris"
    result = _result()
    assert presentation.freshness_text(result.data_times, result.as_of).endswith("(as of 2025-03-01 13:00 CET).")
    row = driver_rows(result)[0]
    assert row["taken_at"] == "01 Mar 11:00 CET" and row["taken_utc"] == "2025-03-01 10:00 UTC"
