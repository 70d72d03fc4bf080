"""Sepsis candidates trained on PhysioNet set A only: held-out set-A metrics (the choice) and set B (the record).

Reproduces the README's "Sepsis round 4" comparison. Every candidate goes through the shipped training code
(`scoring.training.sepsis.fit_on_set_a`: same patient split, early stopping, Platt calibration and
utility-maximising threshold on held-out set-A patients) and is then evaluated on set B at that threshold.
Candidate inputs are written as `FeatureSpec`s or derived from spec columns, so any of them could be adopted
into `scoring/features/spec.py` as is. A candidate is only worth shipping if it beats the shipped model on
held-out set A; set B is printed for the record, never used to choose. The last line sizes the loss from the
threshold: the best utility reachable on set B with a threshold chosen on set B itself (an oracle).

`--with-set-b 0,0.05,0.2,1` adds a diagnostic that is not a candidate: the shipped recipe trained, as the challenge
entrants were, on set A plus that fraction of set B's non-held-out patients, scored on held-out patients of each.

Run: .venv/bin/python benchmarks/sepsis_candidates.py [--only base,ratios,...] [--with-set-b FRACTIONS]
(about 8 minutes on 2 cores for all candidates)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

F32 = npt.NDArray[np.float32]
# Labs whose longer history and 24 h change are candidates (the labs of SOFA and of the challenge's top entries).
HISTORY_LABS = (
    "BUN",
    "Creatinine",
    "Lactate",
    "WBC",
    "Platelets",
    "Bilirubin_total",
    "Glucose",
    "HCO3",
    "pH",
    "Potassium",
    "Hgb",
    "Chloride",
    "Calcium",
    "Magnesium",
    "Phosphate",
    "PTT",
    "AST",
    "Alkalinephos",
    "Hct",
    "BaseExcess",
    "FiO2",
    "PaCO2",
    "SaO2",
)
# Site-specific charting routine: how often, and how long ago, something was measured.
CHARTING = ("_count_", "_hours_since", "_missing")
# Inputs the two hospitals record differently (README "Sepsis round 4"): HCO3, BaseExcess and chloride in under
# 1 % of set-B hours (8-10 % on A), EtCO2 only on B, troponin I and direct bilirubin on different scales.
SITE_SPECIFIC = ("HCO3", "BaseExcess", "Chloride", "EtCO2", "TroponinI", "Bilirubin_direct")


@dataclasses.dataclass
class Data:
    """Both sets prepared with the shipped spec, plus their raw frames for candidate features."""

    a: Any
    b: Any
    raw_a: Any
    raw_b: Any


@dataclasses.dataclass(frozen=True)
class Candidate:
    """How a candidate changes the inputs, the training labels or the hyper-parameters."""

    name: str
    note: str
    derive: Callable[[Any, Any], F32] | None = None  # (prepared set, raw frame) -> extra columns
    blank: tuple[str, ...] = ()  # feature-name fragments whose columns are blanked (all NaN: never split on)
    label_shift_hours: float = 0.0  # training labels start this much earlier
    params: dict[str, Any] | None = None


def _spec_extra(specs: list[Any]) -> Callable[[Any, Any], F32]:
    from scoring.features.hourly import hourly_features

    def build(_: Any, raw: Any) -> F32:
        return np.asarray(hourly_features(raw, tuple(specs), dtype=np.float32), dtype=np.float32)

    return build


def _lab_specs(aggregation: str, window: float) -> list[Any]:
    from scoring.features.spec import LAB_LOOKBACK_HOURS, FeatureSpec

    return [
        FeatureSpec(
            f"{c}_{aggregation}_{int(window)}h",
            c,
            "Observation",
            (),
            "",
            aggregation,  # type: ignore[arg-type]
            c,
            window_hours=window,
            lookback_hours=LAB_LOOKBACK_HOURS,
        )
        for c in HISTORY_LABS
    ]


def _ratios(prepared: Any, _: Any) -> F32:
    """Shock index HR/SBP, BUN/creatinine and pulse pressure SBP-DBP from the latest values (Morrill et al.,
    Crit Care Med 2020;48:e976, the 2019 challenge winners' derived features)."""
    from scoring.features.spec import SEPSIS_FEATURES

    col = {f.name: j for j, f in enumerate(SEPSIS_FEATURES)}
    x = prepared.x.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.column_stack(
            [
                x[:, col["HR_last"]] / x[:, col["SBP_last"]],
                x[:, col["BUN_last"]] / x[:, col["Creatinine_last"]],
                x[:, col["SBP_last"]] - x[:, col["DBP_last"]],
            ]
        )
    return np.where(np.isfinite(out), out, np.nan).astype(np.float32)


def _hospital_hours(_: Any, raw: Any) -> F32:
    """Hours since hospital admission (ICU length of stay minus HospAdmTime, which is negative when the patient was
    in hospital before the ICU); in FHIR the start of the hospital Encounter the ICU stay is partOf."""
    out = raw["ICULOS"].to_numpy(np.float64) - raw["HospAdmTime"].to_numpy(np.float64)
    return out.reshape(-1, 1).astype(np.float32)


def _both(*builders: Callable[[Any, Any], F32]) -> Callable[[Any, Any], F32]:
    return lambda prepared, raw: np.hstack([b(prepared, raw) for b in builders])


def candidates() -> list[Candidate]:
    """The round-4 candidates, shipped model first."""
    from scoring.training.sepsis import PARAMS

    lab72 = _both(_spec_extra(_lab_specs("max", 72.0)), _spec_extra(_lab_specs("min", 72.0)))
    lab_trend = _spec_extra(_lab_specs("trend", 24.0))
    return [
        Candidate("base", "shipped spec and hyper-parameters"),
        Candidate("ratios", "+ shock index, BUN/creatinine, pulse pressure", derive=_ratios),
        Candidate("lab72", "+ 72 h min/max of 23 labs", derive=lab72),
        Candidate("lab_trend", "+ 24 h change of 23 labs", derive=lab_trend),
        Candidate("all", "+ all of the above", derive=_both(_ratios, lab72, lab_trend)),
        Candidate("label-3h", "training labels start 3 h earlier", label_shift_hours=3.0),
        Candidate("label-6h", "training labels start 6 h earlier (the utility's window)", label_shift_hours=6.0),
        Candidate("slow", "eta 0.03, logloss early stopping", params={**PARAMS, "eta": 0.03, "eval_metric": "logloss"}),
        Candidate(
            "deep",
            "depth 8, eta 0.03, colsample 0.5, lambda 10",
            params={
                **PARAMS,
                "max_depth": 8,
                "eta": 0.03,
                "subsample": 0.7,
                "colsample_bytree": 0.5,
                "min_child_weight": 20,
                "lambda": 10,
                "eval_metric": "logloss",
            },
        ),
        Candidate("no-charting", "without counts, hours-since and missing flags", blank=CHARTING),
        Candidate("no-site", "without the inputs the two hospitals record differently", blank=SITE_SPECIFIC),
        Candidate("hospital-hours", "+ hours since hospital admission (HospAdmTime)", derive=_hospital_hours),
        Candidate(
            "no-los",
            "without ICU length of stay (its link to the label depends on admission practice)",
            blank=("icu_los_hours",),
        ),
    ]


def _inputs(c: Candidate, prepared: Any, raw: Any) -> Any:
    from scoring.features.spec import SEPSIS_FEATURES

    x = prepared.x
    if c.blank:
        x = x.copy()
        x[:, [j for j, f in enumerate(SEPSIS_FEATURES) if any(s in f.name for s in c.blank)]] = np.nan
    if c.derive is not None:
        x = np.hstack([x, c.derive(prepared, raw)])
    return dataclasses.replace(prepared, x=np.ascontiguousarray(x, dtype=np.float32))


def _earlier_labels(prepared: Any, hours: float) -> npt.NDArray[np.int8]:
    first = np.full(int(prepared.groups.max()) + 1, np.inf)
    pos = prepared.y == 1
    np.minimum.at(first, prepared.groups[pos], prepared.hour[pos])
    onset = first[prepared.groups]
    return (np.isfinite(onset) & (prepared.hour >= onset - hours)).astype(np.int8)


def run(c: Candidate, data: Data) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """(held-out set-A metrics, set-B metrics, fitted) of one candidate."""
    from scoring.training.sepsis import evaluate_external, fit_on_set_a

    set_a, set_b = _inputs(c, data.a, data.raw_a), _inputs(c, data.b, data.raw_b)
    labels = _earlier_labels(set_a, c.label_shift_hours) if c.label_shift_hours else None
    fitted = fit_on_set_a(set_a, c.params, labels)
    return fitted.internal, evaluate_external(fitted, set_b, None), (fitted, set_b)


def _oracle(fitted: Any, set_b: Any) -> float:
    from scoring.training.common import margins
    from scoring.training.utility import normalized_utility

    prob = fitted.platt.apply_array(margins(fitted.booster, set_b.x))
    grid = np.unique(np.quantile(prob, np.linspace(0.5, 0.999, 250)))
    return max(normalized_utility(set_b.groups, set_b.hour, set_b.y, prob >= t) for t in grid)


def _member(values: Any, wanted: Any) -> npt.NDArray[np.bool_]:
    """Hash-based membership of patient ids (np.isin on object arrays of strings is far slower)."""
    import pandas as pd

    return pd.Series(values).isin(set(wanted)).to_numpy()


def _with_set_b(data: Data, fraction: float) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Diagnostic, never a candidate (the issue trains on set A only): the shipped recipe trained, as the challenge
    entrants were, on set A plus `fraction` of set B's non-held-out patients, scored on held-out patients of each
    set. Set B's held-out patients (its own 15 % calibration part of the usual split) are the same for every
    fraction; 0 is the shipped model on those rows. It tells whether the gap to the winners' 0.84 / 0.40 is this
    pipeline or the unseen hospital, and how much local data closes it. Returns (A, B, set-B stays trained on)."""
    import pandas as pd

    from scoring.training.common import SEED, margins, patient_split
    from scoring.training.sepsis import Prepared, _subset, evaluate, fit_on_set_a

    a, b = data.a, data.b
    positive = pd.Series(b.y).groupby(b.patients).max()
    split = patient_split(positive.index.to_numpy(), positive.to_numpy().astype(bool))
    pool = np.random.default_rng(SEED).permutation(sorted(split.train | split.early_stop))
    used = _member(b.patients, pool[: int(round(fraction * len(pool)))])
    both = Prepared(
        np.concatenate([a.x, b.x[used]]),
        np.concatenate([a.y, b.y[used]]),
        np.concatenate([a.patients, b.patients[used]]),
        pd.factorize(np.concatenate([a.patients, b.patients[used]]))[0].astype(np.int64),
        np.concatenate([a.hour, b.hour[used]]),
        pd.concat([a.frame, b.frame[used]], ignore_index=True),
    )
    fitted = fit_on_set_a(both)
    held_a = fitted.parts["calibrate"]
    held_a = _subset(held_a, ~_member(held_a.patients, pd.unique(b.patients)))
    held_b = _subset(b, _member(b.patients, list(split.calibrate)))
    out = [
        evaluate(fitted.platt.apply_array(margins(fitted.booster, part.x)), part, fitted.thresholds["high"], None)
        for part in (held_a, held_b)
    ]
    return out[0], out[1], int(pd.unique(b.patients[used]).size)


def main() -> None:
    import django

    django.setup()
    from scoring.training.data import physionet_load
    from scoring.training.sepsis import prepare

    all_candidates = candidates()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default="", help="comma-separated candidate names: " + ", ".join(c.name for c in all_candidates)
    )
    parser.add_argument(
        "--with-set-b",
        default="",
        metavar="FRACTIONS",
        help="also the diagnostic (not a candidate) trained with these fractions of set B's "
        "non-held-out patients, e.g. 0,0.05,0.2,1",
    )
    args = parser.parse_args()
    try:
        fractions = [float(f) for f in args.with_set_b.split(",") if f]
    except ValueError:
        parser.error("--with-set-b takes comma-separated fractions, e.g. 0,0.05,0.2,1")
    if any(not 0 <= f <= 1 for f in fractions):
        parser.error("--with-set-b fractions must lie between 0 and 1")
    wanted = {n for n in args.only.split(",") if n}
    chosen = [c for c in all_candidates if not wanted or c.name in wanted]
    unknown = wanted - {c.name for c in all_candidates}
    if unknown:
        parser.error(f"unknown candidate(s): {', '.join(sorted(unknown))}")
    started = time.monotonic()
    data = Data(prepare("A")[0], prepare("B")[0], physionet_load("A")[0], physionet_load("B")[0])
    rows = []
    base: Any = None
    for c in chosen:
        internal, external, fitted = run(c, data)
        base = fitted if c.name == "base" else base
        rows.append((c, internal, external, fitted[0].booster.num_boosted_rounds()))
    print(
        f"\n{'candidate':12s} {'A AUROC':>8s} {'A util':>7s} | {'B AUROC':>8s} {'B AUPRC':>8s} {'B util':>7s} "
        f"{'trees':>5s}  what"
    )
    for c, internal, external, trees in rows:
        print(
            f"{c.name:12s} {internal['auroc']:8.3f} {internal['utility']:7.3f} | {external['auroc']:8.3f} "
            f"{external['auprc']:8.3f} {external['utility']:7.3f} {trees:5d}  {c.note}"
        )
    for fraction in fractions:
        in_a, in_b, stays = _with_set_b(data, fraction)
        print(
            f"{'with-B ' + format(fraction, 'g'):12s} {in_a['auroc']:8.3f} {in_a['utility']:7.3f} | "
            f"{in_b['auroc']:8.3f} {in_b['auprc']:8.3f} {in_b['utility']:7.3f}        diagnostic: {stays} set-B "
            f"stays in training; held-out patients of each set ({in_b['n_patients']} of set B)"
        )
    if base is not None:
        print(
            f"\nbase, threshold chosen on set B itself (oracle, to size the threshold's share of the gap): "
            f"utility {_oracle(*base):.3f}"
        )
    print(f"({time.monotonic() - started:.0f} s; choose on the A columns only)")


if __name__ == "__main__":
    main()
