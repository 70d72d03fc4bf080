"""Drift of served inputs and scores against a version's reference profile (`scoring.monitoring.profile`).

Per column (each feature, and the score):
- **PSI** on the reference's decile bins, reported with the usual reading: < 0.1 no significant change,
  0.1-0.25 moderate, >= 0.25 major (a credit-scoring rule of thumb, Siddiqi, *Credit Risk Scorecards*, Wiley
  2006). Its limits: the cut-offs have no statistical basis, PSI grows with the number of bins and shrinks with
  sample size (without any change it is about (bins - 1) / n: 0.09 at 100 present values), and it is blind to
  changes inside a bin (Yurdakul, *Statistical properties of population stability index*, PhD thesis,
  Western Michigan University 2018). So a PSI >= 0.25 counts only with at least PSI_MIN_PRESENT values.
- **A test fit for the window size**, as Evidently's default drift algorithm chooses (its choice made on the
  current window here, since the reference is always large): up to SMALL_WINDOW (effective) present values, the
  Kolmogorov-Smirnov statistic against the reference distribution (`reference_sample`; its p-value that of a
  one-sample test, the reference being large) for numeric columns and the
  chi-squared test on the bins for discrete ones (<= DISCRETE_LEVELS distinct values), p < 0.05; above it,
  the Wasserstein distance divided by the reference's standard deviation (numeric) or the Jensen-Shannon
  distance of the bins (discrete), each >= 0.1. Chi-squared leaves out the bins expecting fewer than 5 values
  (Cochran's rule): each such bin gets the exact binomial test (`_levels_test`).
- **Missingness**: the share of rows without a value, against the reference share: a binomial test
  (p < 0.05) on small windows, an absolute change >= MISSING_CHANGE on large ones.
- **Rows of one patient are not independent**: a window holds every inference served, and a patient is scored
  again at each chart open, hook call and real-time rescore. Given each row's patient (`groups`: the
  pseudonyms), each column's sample size is its *effective* size, n / deff, with Kish's design effect
  deff = 1 + (m - 1) ICC (Kish, *Survey Sampling*, Wiley 1965; m the size-weighted mean rows per patient, ICC
  the one-way ANOVA intraclass correlation of the column's values within patients, Donner, *Int Stat Rev*
  1986). The effective size chooses between test and distance and is the n of the tests (for a two-level
  column's chi-squared that is the Rao-Scott first-order correction, Rao & Scott, *JASA* 1981; for 3-5 levels
  the design effect is that of the levels' codes, an approximation). Without it, 40 hourly rows of one
  stay count as 40 patients, and windows of whole stays flag a quarter of their columns when nothing changed
  (`benchmarks/drift_set_b.py`).

A column is *flagged* when any of these fires; with ~190 columns some flag by chance in every window (the
per-column rate is the false-alarm rate benchmarks/drift_set_b.py measures). A window opens a finding
(`attention`) only on a *major* change, an effect size confirmed by its test: a PSI >= 0.25 on at least
PSI_MIN_PRESENT present values whose test fired, or a missing share moved by >= MISSING_CHANGE, where a test's
p-value must be below 0.05 divided by the number of tests that could confirm one (two per column:
Bonferroni, one window, one family); or on at least DRIFT_SHARE of the columns flagged (Evidently's
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
MIN_EXPECTED = 5  # chi-squared leaves out bins expecting fewer values, tested exactly (Cochran, Biometrics 1954)


def psi(reference: npt.NDArray[np.float64], current: npt.NDArray[np.float64]) -> float:
    """Population stability index of two bin-share vectors: sum((c - r) ln(c / r)), empty bins at EPS."""
    r, c = np.clip(reference, EPS, None), np.clip(current, EPS, None)
    return float(np.sum(rel_entr(c, r) + rel_entr(r, c)))


def psi_level(value: float) -> str:
    """The conventional reading of a PSI value."""
    return "major" if value >= PSI_MAJOR else "moderate" if value >= PSI_MODERATE else "none"


def _discrete(ref: dict[str, Any]) -> bool:
    return len(set(ref["quantiles"])) <= DISCRETE_LEVELS


def effective_size(values: npt.NDArray[np.float64], groups: npt.NDArray[Any] | None) -> float:
    """n / deff: how many independent values `values` (one per row, grouped by patient) are worth."""
    n = len(values)
    if groups is None or n < 2:
        return float(n)
    _, group, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    if len(sizes) < 2:
        return 1.0  # one patient: no estimate of the spread between patients, so worth one
    deff = 1.0 + (float(np.sum(sizes**2)) / n - 1.0) * _icc(values, group, sizes)
    return n / deff


def _icc(values: npt.NDArray[np.float64], group: npt.NDArray[np.intp], sizes: npt.NDArray[np.intp]) -> float:
    """One-way ANOVA intraclass correlation for unequal group sizes, clipped to [0, 1]; 1 when the values do
    not vary at all (the window cannot tell how alike a patient's rows are: each patient then counts once)."""
    n, k = len(values), len(sizes)
    means = np.bincount(group, weights=values) / sizes
    between = float(np.sum(sizes * (means - values.mean()) ** 2)) / (k - 1)
    within = float(np.sum((values - means[group]) ** 2)) / max(n - k, 1)
    m0 = (n - float(np.sum(sizes**2)) / n) / (k - 1)
    denominator = between + (m0 - 1) * within
    return min(max((between - within) / denominator, 0.0), 1.0) if denominator > 0 else 1.0


def _small_test(
    ref: dict[str, Any], present: npt.NDArray[np.float64], cur: npt.NDArray[np.float64], n: float
) -> dict[str, Any]:
    """KS against the reference CDF (numeric) or chi-squared on the bins (discrete), on `n` effective values:
    drift when p < P_VALUE."""
    if _discrete(ref):
        return _verdict(*_levels_test(ref, cur, n))
    d = float(stats.ks_2samp(present, reference_sample(ref["quantiles"])).statistic)
    return _verdict("kolmogorov-smirnov", d, float(stats.kstwo.sf(d, max(_count(n), 1))))


def _levels_test(ref: dict[str, Any], cur: npt.NDArray[np.float64], n: float) -> tuple[str, float, float]:
    """(test, statistic, p) of n values in the shares `cur` against the reference's. Chi-squared's law does not hold
    for bins expecting fewer than MIN_EXPECTED values (Cochran's rule), so each such bin (a level the reference
    rarely or never had) gets the exact binomial test of its own count, its share at least the most a level never
    seen in the reference's values may have (3 / values, the rule of three: Hanley & Lippman-Hand, JAMA 1983);
    the other bins, chi-squared given their total. The smallest p times the number of tests (Bonferroni) is the
    window's; no test possible: p 1."""
    shares = np.asarray(ref["shares"], dtype=np.float64)
    shares = shares / shares.sum()
    floor = 3.0 / max(float(ref["n"]) * (1.0 - float(ref["missing_share"])), 1.0)
    expected, trials = shares * n, max(_count(n), 1)
    rare = (expected < MIN_EXPECTED) & ((shares > 0) | (cur > 0))  # a level empty in both says nothing
    found = [
        ("exact binomial (rare level)", float(cur[i]), _binomial(float(cur[i]), trials, max(float(shares[i]), floor)))
        for i in np.flatnonzero(rare)
    ]
    common = expected >= MIN_EXPECTED
    seen = cur[common] * n
    if common.sum() >= 2 and seen.sum() > 0:
        given = expected[common] * seen.sum() / expected[common].sum()
        if given.min() >= MIN_EXPECTED:
            found.append(("chi-squared", *_chi_squared(seen, given)))
    if not found:
        return "none (too few values)", 0.0, 1.0
    name, statistic, p = min(found, key=lambda t: t[2])
    return name, statistic, min(1.0, p * len(found))


def _chi_squared(observed: npt.NDArray[np.float64], expected: npt.NDArray[np.float64]) -> tuple[float, float]:
    result = stats.chisquare(observed, expected)
    return float(result.statistic), float(result.pvalue)


def _binomial(share_seen: float, trials: int, share: float) -> float:
    """Two-sided exact binomial p of a share `share_seen` of `trials` (an effective count, whole) at `share`."""
    seen = min(_count(trials * share_seen), trials)
    return float(stats.binomtest(seen, trials, min(max(share, 0.0), 1.0)).pvalue)


def _count(x: float) -> int:
    """An effective count as a whole number (half up)."""
    return int(np.floor(x + 0.5))


def _verdict(name: str, statistic: float, p: float) -> dict[str, Any]:
    return {"test": name, "statistic": statistic, "p_value": p, "threshold": P_VALUE, "drift": p < P_VALUE}


def _large_test(
    ref: dict[str, Any], present: npt.NDArray[np.float64], cur: npt.NDArray[np.float64], n: float
) -> dict[str, Any]:
    """Normed Wasserstein (numeric) or Jensen-Shannon distance of the bins (discrete): drift when >= DISTANCE."""
    if _discrete(ref):
        value = float(jensenshannon(np.clip(np.asarray(ref["shares"]), EPS, None), np.clip(cur, EPS, None)))
        name = "jensen-shannon"
    else:
        scale = max(float(ref["std"]), 1e-3)
        value = float(stats.wasserstein_distance(present, reference_sample(ref["quantiles"]))) / scale
        name = "wasserstein (normed by reference std)"
    return {"test": name, "statistic": value, "threshold": DISTANCE, "drift": value >= DISTANCE}


def missing_drift(
    ref: dict[str, Any], n: int, missing: int, missing_change: float = MISSING_CHANGE, effective: float | None = None
) -> dict[str, Any]:
    """Whether the share of rows without a value moved from the reference's (`effective`: what the n rows are
    worth, `effective_size`)."""
    expected, share = float(ref["missing_share"]), missing / n
    size = n if effective is None else max(_count(effective), 1)
    if size <= SMALL_WINDOW:
        p = _binomial(share, size, min(max(expected, 1e-6), 1 - 1e-6))
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
    groups: npt.NDArray[Any] | None = None,
    psi_major: float = PSI_MAJOR,
    missing_change: float = MISSING_CHANGE,
    confirm: float = P_VALUE,
) -> dict[str, Any]:
    """Every check of one column's served values (NaN = missing) against its reference profile (the major-change
    thresholds from the model's monitor policy, `scoring.monitoring.policy`); `groups`, each row's patient,
    makes the sample sizes effective ones (`effective_size`); a major change's test must reach p < `confirm`."""
    column = as_model_sees(values)
    known = np.isfinite(column)
    present = column[known]
    worth = effective_size(present, None if groups is None else groups[known])
    missing = effective_size((~known).astype(np.float64), groups)
    result: dict[str, Any] = {
        "n": int(len(column)),
        "present": int(len(present)),
        "effective_present": round(worth, 1),
        **missing_drift(ref, len(column), len(column) - len(present), missing_change, missing),
    }
    if len(present) >= MIN_PRESENT and "edges" in ref:
        cur = bin_shares(present, np.asarray(ref["edges"]))
        value = psi(np.asarray(ref["shares"]), cur)
        test = _small_test if worth <= SMALL_WINDOW else _large_test
        result |= {
            "psi": value,
            "psi_level": psi_level(value),
            "shares": [round(float(v), 4) for v in cur],
            **test(ref, present, cur, worth),
        }
    result["major"] = bool(
        (
            abs(result["missing_share"] - result["reference_missing_share"]) >= missing_change
            and _confirmed(result, "missing_", confirm)
        )
        or (result.get("psi", 0.0) >= psi_major and len(present) >= PSI_MIN_PRESENT and _confirmed(result, "", confirm))
    )
    result["flagged"] = bool(result["missing_drift"] or result.get("drift") or result["major"])
    return result


def _confirmed(result: dict[str, Any], prefix: str, p_value: float) -> bool:
    """Whether the test behind a major change (the missingness test: prefix "missing_") fired: a distance, or a
    p-value below `p_value`."""
    p = result.get(f"{prefix}p_value")
    return bool(result.get(f"{prefix}drift")) and (p is None or p < p_value)


def profile_drift(
    profile: dict[str, Any],
    features: list[str],
    x: npt.NDArray[Any],
    scores: npt.NDArray[Any],
    *,
    groups: npt.NDArray[Any] | None = None,
    psi_major: float = PSI_MAJOR,
    missing_change: float = MISSING_CHANGE,
    drift_share: float = DRIFT_SHARE,
) -> dict[str, Any]:
    """Every feature's and the score's checks (`x` columns in `features` order; `groups`, each row's patient):
    `flagged` lists the drifted columns, `major` those with a major change, `attention` whether the window
    opens a finding."""
    checked = [(i, name) for i, name in enumerate(features) if name in profile["features"]]
    confirm = P_VALUE / (2 * (len(checked) + 1))  # Bonferroni: two tests per column may confirm a major change
    groups = None if groups is None else np.unique(groups, return_inverse=True)[1]  # codes: sorted once

    def check(ref: dict[str, Any], values: npt.NDArray[Any]) -> dict[str, Any]:
        return column_drift(
            ref, values, groups=groups, psi_major=psi_major, missing_change=missing_change, confirm=confirm
        )

    columns = {name: check(profile["features"][name], x[:, i]) for i, name in checked}
    columns["score"] = check(profile["score"], scores)
    flagged = [name for name, c in columns.items() if c["flagged"]]
    major = [name for name, c in columns.items() if c["major"]]
    return {
        "columns": columns,
        "flagged": flagged,
        "major": major,
        "attention": bool(major) or len(flagged) >= drift_share * len(columns),
    }
