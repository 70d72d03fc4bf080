"""Drift of served inputs and scores against a version's reference profile (`scoring.monitoring.profile`).

Per column (each feature, and the score):
- **PSI** on the reference's decile bins, reported with the usual reading: < 0.1 no significant change,
  0.1-0.25 moderate, >= 0.25 major (a credit-scoring rule of thumb, Siddiqi, *Credit Risk Scorecards*, Wiley
  2006). Its limits: the cut-offs have no statistical basis, PSI grows with the number of bins and shrinks with
  sample size (without any change it is about (bins - 1) / n: 0.09 at 100 present values), and it is blind to
  changes inside a bin (Yurdakul, *Statistical properties of population stability index*, PhD thesis,
  Western Michigan University 2018). So a PSI >= 0.25 counts only with at least PSI_MIN_PRESENT values.
- **A test fit for the window size**, as Evidently's default drift algorithm chooses (its choice made on the
  current window here, since the reference is always large): up to SMALL_WINDOW present values, the
  Kolmogorov-Smirnov statistic against the reference distribution (`reference_sample`; its p-value that of a
  one-sample test, the reference being large) for numeric columns and the
  chi-squared test on the bins for discrete ones (<= DISCRETE_LEVELS distinct values), p < 0.05; above it,
  the Wasserstein distance divided by the reference's standard deviation (numeric) or the Jensen-Shannon
  distance of the bins (discrete), each >= 0.1. Hourly rows of one stay are not independent, so the p-values
  are optimistic; the distances do not depend on that.
- **Missingness**: the share of rows without a value, against the reference share: a binomial test
  (p < 0.05) on small windows, an absolute change >= MISSING_CHANGE on large ones.

A column is *flagged* when any of these fires; with ~190 columns some flag by chance in every window (the
per-column rate is the false-alarm rate benchmarks/drift_set_b.py measures). A window opens a finding
(`attention`) only on a *major* change, an effect size rather than a p-value: a PSI >= 0.25 on enough values,
a missing share moved by >= MISSING_CHANGE, or at least DRIFT_SHARE of the columns flagged (Evidently's
dataset-drift rule, default share 0.5).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr

from scoring.monitoring.profile import as_model_sees, bin_shares, reference_sample

SMALL_WINDOW = 1000
DISCRETE_LEVELS = 5
P_VALUE = 0.05
DISTANCE = 0.1  # normed Wasserstein and Jensen-Shannon (Evidently's default threshold)
PSI_MODERATE, PSI_MAJOR = 0.1, 0.25
MISSING_CHANGE = 0.10
PSI_MIN_PRESENT = 400  # no-change PSI about 9 / 400 = 0.02 with 10 bins, far below the 0.25 it must reach
DRIFT_SHARE = 0.5
MIN_PRESENT = 30  # fewer present values: no distribution test (missingness is still checked)
EPS = 1e-4  # share given to empty bins (PSI, Jensen-Shannon)


def psi(reference: npt.NDArray[np.float64], current: npt.NDArray[np.float64]) -> float:
    """Population stability index of two bin-share vectors: sum((c - r) ln(c / r)), empty bins at EPS."""
    r, c = np.clip(reference, EPS, None), np.clip(current, EPS, None)
    return float(np.sum(rel_entr(c, r) + rel_entr(r, c)))


def psi_level(value: float) -> str:
    """The conventional reading of a PSI value."""
    return "major" if value >= PSI_MAJOR else "moderate" if value >= PSI_MODERATE else "none"


def _discrete(ref: dict[str, Any]) -> bool:
    return len(set(ref["quantiles"])) <= DISCRETE_LEVELS


def _small_test(ref: dict[str, Any], present: npt.NDArray[np.float64], cur: npt.NDArray[np.float64]) -> dict[str, Any]:
    """KS against the reference CDF (numeric) or chi-squared on the bins (discrete): drift when p < P_VALUE."""
    if _discrete(ref):
        expected = np.clip(np.asarray(ref["shares"]), EPS, None)
        observed = cur * len(present)
        result = stats.chisquare(observed, expected / expected.sum() * len(present))
    else:
        d = float(stats.ks_2samp(present, reference_sample(ref["quantiles"])).statistic)
        return _verdict("kolmogorov-smirnov", d, float(stats.kstwo.sf(d, len(present))))
    return _verdict("chi-squared", float(result.statistic), float(result.pvalue))


def _verdict(name: str, statistic: float, p: float) -> dict[str, Any]:
    return {"test": name, "statistic": statistic, "p_value": p, "threshold": P_VALUE, "drift": p < P_VALUE}


def _large_test(ref: dict[str, Any], present: npt.NDArray[np.float64], cur: npt.NDArray[np.float64]) -> dict[str, Any]:
    """Normed Wasserstein (numeric) or Jensen-Shannon distance of the bins (discrete): drift when >= DISTANCE."""
    if _discrete(ref):
        value = float(jensenshannon(np.clip(np.asarray(ref["shares"]), EPS, None), np.clip(cur, EPS, None)))
        name = "jensen-shannon"
    else:
        scale = max(float(ref["std"]), 1e-3)
        value = float(stats.wasserstein_distance(present, reference_sample(ref["quantiles"]))) / scale
        name = "wasserstein (normed by reference std)"
    return {"test": name, "statistic": value, "threshold": DISTANCE, "drift": value >= DISTANCE}


def missing_drift(ref: dict[str, Any], n: int, missing: int, missing_change: float = MISSING_CHANGE) -> dict[str, Any]:
    """Whether the share of rows without a value moved from the reference's."""
    expected, share = float(ref["missing_share"]), missing / n
    if n <= SMALL_WINDOW:
        p = float(stats.binomtest(missing, n, min(max(expected, 1e-6), 1 - 1e-6)).pvalue)
        return {
            "missing_share": share,
            "reference_missing_share": expected,
            "missing_p_value": p,
            "missing_drift": p < P_VALUE,
        }
    return {
        "missing_share": share,
        "reference_missing_share": expected,
        "missing_drift": abs(share - expected) >= missing_change,
    }


def column_drift(
    ref: dict[str, Any],
    values: npt.NDArray[Any],
    *,
    psi_major: float = PSI_MAJOR,
    missing_change: float = MISSING_CHANGE,
) -> dict[str, Any]:
    """Every check of one column's served values (NaN = missing) against its reference profile (the major-change
    thresholds from the model's monitor policy, `scoring.monitoring.policy`)."""
    column = as_model_sees(values)
    present = column[np.isfinite(column)]
    result: dict[str, Any] = {
        "n": int(len(column)),
        "present": int(len(present)),
        **missing_drift(ref, len(column), len(column) - len(present), missing_change),
    }
    if len(present) >= MIN_PRESENT and "edges" in ref:
        cur = bin_shares(present, np.asarray(ref["edges"]))
        value = psi(np.asarray(ref["shares"]), cur)
        test = _small_test if len(present) <= SMALL_WINDOW else _large_test
        result |= {
            "psi": value,
            "psi_level": psi_level(value),
            "shares": [round(float(v), 4) for v in cur],
            **test(ref, present, cur),
        }
    result["major"] = bool(
        abs(result["missing_share"] - result["reference_missing_share"]) >= missing_change
        or (result.get("psi", 0.0) >= psi_major and len(present) >= PSI_MIN_PRESENT)
    )
    result["flagged"] = bool(result["missing_drift"] or result.get("drift") or result["major"])
    return result


def profile_drift(
    profile: dict[str, Any],
    features: list[str],
    x: npt.NDArray[Any],
    scores: npt.NDArray[Any],
    *,
    psi_major: float = PSI_MAJOR,
    missing_change: float = MISSING_CHANGE,
    drift_share: float = DRIFT_SHARE,
) -> dict[str, Any]:
    """Every feature's and the score's checks (`x` columns in `features` order): `flagged` lists the drifted
    columns, `major` those with a major change, `attention` whether the window opens a finding."""
    limits = {"psi_major": psi_major, "missing_change": missing_change}
    columns = {
        name: column_drift(profile["features"][name], x[:, i], **limits)
        for i, name in enumerate(features)
        if name in profile["features"]
    }
    columns["score"] = column_drift(profile["score"], scores, **limits)
    flagged = [name for name, c in columns.items() if c["flagged"]]
    major = [name for name, c in columns.items() if c["major"]]
    return {
        "columns": columns,
        "flagged": flagged,
        "major": major,
        "attention": bool(major) or len(flagged) >= drift_share * len(columns),
    }
