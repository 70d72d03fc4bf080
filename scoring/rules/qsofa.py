"""qSOFA, the quick Sequential Organ Failure Assessment (Sepsis-3).

Sources: Singer M, et al. The Third International Consensus Definitions for Sepsis and Septic Shock
(Sepsis-3). JAMA 2016;315(8):801-810 (Box 4); Seymour CW, et al. Assessment of Clinical Criteria for
Sepsis. JAMA 2016;315(8):762-774. One point each for respiratory rate >= 22/min, altered mentation
(GCS < 15) and systolic blood pressure <= 100 mmHg; a score of 2 or more identifies patients with
suspected infection at greater risk of a poor outcome. qSOFA defines no intermediate band, so
0-1 maps to our 'low' and >= 2 to 'high'.

Input keys of `qsofa_score`: resp_rate (/min), sbp (mmHg), gcs (Glasgow Coma Scale total, 3-15).
Required: resp_rate and sbp. GCS is often not recorded (PhysioNet 2019 has none); then mentation
scores 0 and the result is marked a lower bound with a note.
"""

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from scoring.rules.base import ParameterPoints, RuleScore, is_missing, number
from scoring.types import Band

RESP_RATE_AT = 22.0
SBP_AT_MOST = 100.0
GCS_BELOW = 15.0
POSITIVE_AT = 2


def qsofa_score(values: Mapping[str, object]) -> RuleScore:
    """Score qSOFA from the latest values, or refuse when respiration rate or SBP is missing."""
    labels = {"resp_rate": "Respiration rate", "sbp": "Systolic blood pressure"}
    missing = tuple(label for key, label in labels.items() if is_missing(values.get(key)))
    if missing:
        return RuleScore(
            name="qsofa",
            points=None,
            band=None,
            missing=missing,
            notes=(f"Not scored: {', '.join(missing)} not available.",),
        )
    rr = number(values["resp_rate"])
    sbp = number(values["sbp"])
    params = [
        ParameterPoints("resp_rate", "Respiration rate", rr, "/min", int(rr >= RESP_RATE_AT)),
        ParameterPoints("sbp", "Systolic blood pressure", sbp, "mm[Hg]", int(sbp <= SBP_AT_MOST)),
    ]
    notes: list[str] = []
    not_recorded: tuple[str, ...] = ()
    gcs = values.get("gcs")
    if is_missing(gcs):
        not_recorded = ("Mentation (GCS)",)
        notes.append("Mentation (GCS) not recorded: scored 0; the true score may be 1 higher.")
        params.append(ParameterPoints("gcs", "Altered mentation (GCS < 15)", None, "", 0))
    else:
        params.append(
            ParameterPoints("gcs", "Altered mentation (GCS < 15)", number(gcs), "{score}", int(number(gcs) < GCS_BELOW))
        )
    total = sum(p.points for p in params)
    band: Band = "high" if total >= POSITIVE_AT else "low"
    notes.insert(0, f"qSOFA {total}: {'positive (>= 2)' if total >= POSITIVE_AT else 'negative'}.")
    return RuleScore(
        name="qsofa", points=total, band=band, parameters=tuple(params), not_recorded=not_recorded, notes=tuple(notes)
    )


def qsofa_points_array(
    *, resp_rate: npt.NDArray[np.float64], sbp: npt.NDArray[np.float64], gcs: npt.NDArray[np.float64] | None = None
) -> npt.NDArray[np.float64]:
    """Vectorised qSOFA for evaluation baselines; NaN where respiration rate or SBP is missing."""
    total = (resp_rate >= RESP_RATE_AT).astype(float) + (sbp <= SBP_AT_MOST).astype(float)
    if gcs is not None:
        total = total + (gcs < GCS_BELOW).astype(float)
    return np.where(np.isnan(resp_rate) | np.isnan(sbp), np.nan, total)
