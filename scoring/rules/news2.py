"""NEWS2, the National Early Warning Score 2 (Royal College of Physicians, London, 2017).

Source: Royal College of Physicians. National Early Warning Score (NEWS) 2: Standardising the
assessment of acute-illness severity in the NHS. Updated report of a working party. London: RCP,
2017. Chart 1 ("The NEWS2 scoring system") gives the points below; Chart 2 / Table 1 give the
clinical risk: aggregate 0-4 low; a score of 3 in any single parameter low-medium (urgent ward-based
response); 5-6 medium (key threshold for urgent response); 7 or more high.

Chart 1 lists integer ranges (e.g. respiration 9-11); measured values can be fractional, so each
range is applied as "above the previous range's upper limit, up to and including its own" (RR 11.5
scores as 21-24 would not: it falls in (11, 20] -> 0). Temperature ranges are in 0.1 degC steps
(35.1-36.0 -> (35.0, 36.0]).

Input keys of `news2_score`: resp_rate (/min), spo2 (%), on_oxygen (bool: supplemental oxygen),
sbp (mmHg), heart_rate (/min), consciousness ("alert" or "cvpu": new confusion, voice, pain,
unresponsive), temperature (degC), spo2_scale (1 or 2; 2 only for patients with a prescribed
hypercapnic-respiratory-failure target of 88-92 %, per Chart 1; 1 otherwise, as the chart directs).
Required: resp_rate, spo2, sbp, heart_rate, temperature. consciousness and on_oxygen are often not
recorded in the data we receive (PhysioNet 2019 has neither a GCS nor an oxygen-device column); when
absent they score 0 and the result is marked a lower bound with a note, never silently.
"""

import math
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from scoring.rules.base import ParameterPoints, PointBand, RuleScore, is_missing, number, points_for, points_for_array
from scoring.types import Band

INF = math.inf

# Chart 1, row by row.
RESP_RATE = (PointBand(8, 3), PointBand(11, 1), PointBand(20, 0), PointBand(24, 2), PointBand(INF, 3))
SPO2_SCALE_1 = (PointBand(91, 3), PointBand(93, 2), PointBand(95, 1), PointBand(INF, 0))
# Scale 2 below 93 % is the same on air or oxygen; at 93 % and above it depends on oxygen.
SPO2_SCALE_2_LOW = (PointBand(83, 3), PointBand(85, 2), PointBand(87, 1), PointBand(92, 0))
SPO2_SCALE_2_ON_OXYGEN = (PointBand(94, 1), PointBand(96, 2), PointBand(INF, 3))
AIR_OR_OXYGEN_POINTS = {False: 0, True: 2}
SYSTOLIC_BP = (PointBand(90, 3), PointBand(100, 2), PointBand(110, 1), PointBand(219, 0), PointBand(INF, 3))
PULSE = (PointBand(40, 3), PointBand(50, 1), PointBand(90, 0), PointBand(110, 1), PointBand(130, 2), PointBand(INF, 3))
CONSCIOUSNESS_POINTS = {"alert": 0, "cvpu": 3}
TEMPERATURE = (PointBand(35.0, 3), PointBand(36.0, 1), PointBand(38.0, 0), PointBand(39.0, 1), PointBand(INF, 2))

# Chart 2 thresholds.
MEDIUM_AT = 5
HIGH_AT = 7
RED_SCORE = 3

REQUIRED = {
    "resp_rate": ("Respiration rate", "/min", RESP_RATE),
    "sbp": ("Systolic blood pressure", "mm[Hg]", SYSTOLIC_BP),
    "heart_rate": ("Pulse", "/min", PULSE),
    "temperature": ("Temperature", "Cel", TEMPERATURE),
}


def spo2_points(spo2: float, *, on_oxygen: bool, scale: int) -> int:
    """SpO2 points on Scale 1 or Scale 2 (Chart 1)."""
    if scale == 1:
        return points_for(spo2, SPO2_SCALE_1)
    if spo2 <= 92:
        return points_for(spo2, SPO2_SCALE_2_LOW)
    return points_for(spo2, SPO2_SCALE_2_ON_OXYGEN) if on_oxygen else 0


def clinical_risk(points: int, *, any_red: bool) -> tuple[Band, str]:
    """Chart 2: (our band, the RCP's words). Low-medium (a single 3) maps to our 'moderate'."""
    if points >= HIGH_AT:
        return "high", "high"
    if points >= MEDIUM_AT:
        return "moderate", "medium"
    if any_red:
        return "moderate", "low-medium (a single parameter scored 3)"
    return "low", "low"


def news2_score(values: Mapping[str, object]) -> RuleScore:
    """Score NEWS2 from the latest values, or refuse when a required parameter is missing."""
    missing = tuple(REQUIRED[k][0] for k in REQUIRED if is_missing(values.get(k)))
    if is_missing(values.get("spo2")):
        missing += ("SpO2",)
    if missing:
        return RuleScore(
            name="news2",
            points=None,
            band=None,
            missing=missing,
            notes=(f"Not scored: {', '.join(missing)} not available.",),
        )
    params = [
        ParameterPoints(k, label, number(values[k]), unit, points_for(number(values[k]), table))
        for k, (label, unit, table) in REQUIRED.items()
    ]
    not_recorded: list[str] = []
    notes: list[str] = []
    on_oxygen = values.get("on_oxygen")
    scale = int(number(values.get("spo2_scale") or 1))
    if is_missing(on_oxygen):
        not_recorded.append("Air or oxygen")
        notes.append("Supplemental oxygen not recorded: scored as air; the true score may be 2 higher.")
    oxygen = bool(on_oxygen) if not is_missing(on_oxygen) else False
    params.append(
        ParameterPoints("on_oxygen", "Air or oxygen", "oxygen" if oxygen else "air", "", AIR_OR_OXYGEN_POINTS[oxygen])
    )
    spo2 = number(values["spo2"])
    params.append(
        ParameterPoints("spo2", f"SpO2 (scale {scale})", spo2, "%", spo2_points(spo2, on_oxygen=oxygen, scale=scale))
    )
    consciousness = values.get("consciousness")
    if is_missing(consciousness):
        not_recorded.append("Consciousness")
        notes.append("Level of consciousness not recorded: scored as alert; the true score may be 3 higher.")
        consciousness = "alert"
    params.append(
        ParameterPoints(
            "consciousness", "Consciousness", str(consciousness), "", CONSCIOUSNESS_POINTS[str(consciousness)]
        )
    )
    total = sum(p.points for p in params)
    band, words = clinical_risk(total, any_red=any(p.points >= RED_SCORE for p in params))
    notes.insert(0, f"NEWS2 {total}: RCP clinical risk {words}.")
    return RuleScore(
        name="news2",
        points=total,
        band=band,
        parameters=tuple(params),
        not_recorded=tuple(not_recorded),
        notes=tuple(notes),
    )


def news2_points_array(
    *,
    resp_rate: npt.NDArray[np.float64],
    spo2: npt.NDArray[np.float64],
    sbp: npt.NDArray[np.float64],
    heart_rate: npt.NDArray[np.float64],
    temperature: npt.NDArray[np.float64],
    on_oxygen: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]:
    """Vectorised Scale-1 NEWS2 for evaluation baselines: NaN where a required value is missing.

    Consciousness is not available in bulk data and scores 0 (a lower bound, as in `news2_score`);
    `on_oxygen` (1.0 / 0.0 / NaN for unknown) adds 2 where 1.0.
    """
    total = (
        points_for_array(resp_rate, RESP_RATE)
        + points_for_array(spo2, SPO2_SCALE_1)
        + points_for_array(sbp, SYSTOLIC_BP)
        + points_for_array(heart_rate, PULSE)
        + points_for_array(temperature, TEMPERATURE)
    )
    if on_oxygen is not None:
        total = total + np.where(on_oxygen == 1.0, 2.0, 0.0)
    return total
