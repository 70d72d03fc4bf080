"""NEWS2 and qSOFA against values read off the published charts (RCP NEWS2 Chart 1/2; Sepsis-3 Box 4)."""

import math

import numpy as np
import pytest

from scoring.rules.news2 import news2_points_array, news2_score
from scoring.rules.qsofa import qsofa_points_array, qsofa_score

NORMAL = {
    "resp_rate": 16,
    "spo2": 97,
    "on_oxygen": False,
    "sbp": 120,
    "heart_rate": 70,
    "consciousness": "alert",
    "temperature": 37.0,
}


def _points(key: str, value: object, **extra: object) -> int:
    score = news2_score({**NORMAL, key: value, **extra})
    return next(p.points for p in score.parameters if p.key == key)


class News2ChartTests:
    @pytest.mark.parametrize("value,points", [(8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3)])
    def test_respiration_rate(self, value: float, points: int) -> None:
        assert _points("resp_rate", value) == points

    @pytest.mark.parametrize("value,points", [(91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)])
    def test_spo2_scale_1(self, value: float, points: int) -> None:
        assert _points("spo2", value) == points

    @pytest.mark.parametrize(
        "value,oxygen,points",
        [
            (83, False, 3),
            (84, False, 2),
            (85, True, 2),
            (86, False, 1),
            (87, True, 1),
            (88, True, 0),
            (92, True, 0),
            (93, False, 0),
            (99, False, 0),
            (93, True, 1),
            (94, True, 1),
            (95, True, 2),
            (96, True, 2),
            (97, True, 3),
        ],
    )
    def test_spo2_scale_2(self, value: float, oxygen: bool, points: int) -> None:
        assert _points("spo2", value, on_oxygen=oxygen, spo2_scale=2) == points

    @pytest.mark.parametrize(
        "value,points", [(90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3)]
    )
    def test_systolic_bp(self, value: float, points: int) -> None:
        assert _points("sbp", value) == points

    @pytest.mark.parametrize(
        "value,points", [(40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2), (130, 2), (131, 3)]
    )
    def test_pulse(self, value: float, points: int) -> None:
        assert _points("heart_rate", value) == points

    @pytest.mark.parametrize(
        "value,points", [(35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0), (38.1, 1), (39.0, 1), (39.1, 2)]
    )
    def test_temperature(self, value: float, points: int) -> None:
        assert _points("temperature", value) == points

    def test_oxygen_and_consciousness(self) -> None:
        assert _points("on_oxygen", True) == 2
        assert _points("consciousness", "cvpu") == 3

    @pytest.mark.parametrize(
        "changes,total,band",
        [
            ({}, 0, "low"),
            ({"resp_rate": 22, "heart_rate": 95}, 3, "low"),  # 2 + 1
            ({"resp_rate": 25}, 3, "moderate"),  # single red parameter
            ({"resp_rate": 22, "heart_rate": 115, "temperature": 38.5}, 5, "moderate"),
            ({"resp_rate": 22, "heart_rate": 115, "spo2": 92}, 6, "moderate"),
            ({"resp_rate": 25, "heart_rate": 115, "spo2": 94}, 6, "moderate"),
            ({"resp_rate": 25, "heart_rate": 115, "on_oxygen": True}, 7, "high"),
        ],
    )
    def test_aggregate_and_clinical_risk(self, changes: dict[str, object], total: int, band: str) -> None:
        score = news2_score({**NORMAL, **changes})
        assert (score.points, score.band) == (total, band)
        assert not score.lower_bound

    def test_missing_required_parameter_is_not_scored(self) -> None:
        score = news2_score({**NORMAL, "heart_rate": None})
        assert not score.scored and score.points is None and score.band is None
        assert score.missing == ("Pulse",)
        assert news2_score({**NORMAL, "spo2": math.nan}).missing == ("SpO2",)

    def test_unrecorded_optional_parameters_make_a_lower_bound(self) -> None:
        score = news2_score({k: v for k, v in NORMAL.items() if k not in ("consciousness", "on_oxygen")})
        assert score.points == 0 and score.lower_bound
        assert set(score.not_recorded) == {"Consciousness", "Air or oxygen"}
        assert any("may be 3 higher" in n for n in score.notes)

    def test_vectorised_matches_scalar(self) -> None:
        rng = np.random.default_rng(7)
        n = 400
        cols = {
            "resp_rate": rng.uniform(5, 35, n),
            "spo2": rng.uniform(80, 100, n),
            "sbp": rng.uniform(70, 240, n),
            "heart_rate": rng.uniform(30, 150, n),
            "temperature": rng.uniform(34, 41, n),
        }
        cols["sbp"][::17] = np.nan
        vec = news2_points_array(**cols)
        for i in range(n):
            scalar = news2_score({k: float(v[i]) for k, v in cols.items()})
            assert (np.isnan(vec[i]) and not scalar.scored) or vec[i] == scalar.points


class QsofaTests:
    @pytest.mark.parametrize(
        "rr,sbp,gcs,total",
        [(21, 101, 15, 0), (22, 101, 15, 1), (21, 100, 15, 1), (21, 101, 14, 1), (22, 100, 15, 2), (30, 80, 8, 3)],
    )
    def test_box_4_criteria(self, rr: float, sbp: float, gcs: float, total: int) -> None:
        score = qsofa_score({"resp_rate": rr, "sbp": sbp, "gcs": gcs})
        assert score.points == total
        assert score.band == ("high" if total >= 2 else "low")

    def test_missing_gcs_is_a_lower_bound_and_missing_sbp_refuses(self) -> None:
        assert qsofa_score({"resp_rate": 24, "sbp": 95}).lower_bound
        assert not qsofa_score({"resp_rate": 24}).scored

    def test_vectorised(self) -> None:
        out = qsofa_points_array(resp_rate=np.array([22.0, 10.0, np.nan]), sbp=np.array([100.0, 130.0, 90.0]))
        assert out[0] == 2 and out[1] == 0 and np.isnan(out[2])
