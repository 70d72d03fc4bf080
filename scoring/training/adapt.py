"""Site adaptation of the sepsis model: four ways to fit it to a site's own labelled stays, each measured against
the original model on the same held-out site patients.

The methods climb the updating hierarchy (Steyerberg EW. Clinical Prediction Models, 2nd ed. Springer 2019,
chapter 20; Van Calster B, et al. J Clin Epidemiol 2016;74:167-176):
- recalibrate: Platt (logistic) recalibration of the unchanged trees' margin; the ranking stays the model's.
- isotonic: isotonic regression of the outcome on the margin (Zadrozny B, Elkan C. KDD 2002); monotone, so the
  ranking is kept up to ties.
- continue-training: more XGBoost trees fitted on the site's stays, starting from the model's (`xgb_model=`).
- refit: a new model trained on the original training stays (set A's training split) pooled with the site's;
  REFIT_SEEDS boosters grown with different seeds and averaged into one (`scoring.training.ensemble`): with
  3,400 set-B stays, held-out set-B AUROC 0.837 against one booster's 0.826 (`benchmarks/adaptation.py`).

The site's stays are split by patient (all of a patient's stays on one side), stratified by outcome, into an
adaptation half and a validation half; `stays` limits the adaptation stays used (a nested random subset). The
validation half is never used for fitting, early stopping, calibration or thresholds. For continue-training and
refit, TUNE_FRACTION of the adaptation patients' stays stop the trees early and fit the calibration and thresholds;
the rest grow the trees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from config.errors import ValidationFailed
from scoring.artifact import Calibration, Isotonic, calibration_from
from scoring.training import common
from scoring.training.calibration import platt_fit
from scoring.training.common import SEED, margins, xgb_fit
from scoring.training.ensemble import boosters_average
from scoring.training.sepsis import PARAMS, ROUNDS, Prepared, _subset, choose_thresholds, evaluate
from scoring.training.stays import Stays, septic_stays

if TYPE_CHECKING:  # xgboost itself is imported lazily, inside the functions that run it
    import xgboost as xgb

METHODS = ("recalibrate", "isotonic", "continue-training", "refit")
VALIDATE_FRACTION = 0.5
TUNE_FRACTION = 0.3
MORE_ROUNDS = 200  # at most this many trees added by continue-training (early stopping usually stops sooner)
REFIT_SEEDS = 5  # boosters averaged by refit (bagging: Breiman 1996), each grown with its own random seed
EARLY_STOP = 50
DESCRIPTIONS = {
    "recalibrate": "Platt recalibration of the unchanged trees' margin on the site's adaptation stays; "
    "thresholds re-chosen there",
    "isotonic": "isotonic calibration of the unchanged trees' margin on the site's adaptation stays; "
    "thresholds re-chosen there",
    "continue-training": f"XGBoost trees added to the model's, grown on {1 - TUNE_FRACTION:.0%} of the site's "
    f"adaptation stays and stopped early on the other {TUNE_FRACTION:.0%}, which also fit a Platt calibration "
    "and the thresholds",
    "refit": f"a new XGBoost model on set A's training stays pooled with {1 - TUNE_FRACTION:.0%} of the site's "
    f"adaptation stays, stopped early on the other {TUNE_FRACTION:.0%}, which also fit a Platt calibration "
    f"and the thresholds; the average of {REFIT_SEEDS} such models grown with different random seeds",
}


@dataclass
class Base:
    """The version being adapted: its card, trees and calibration."""

    card: dict[str, Any]
    booster: xgb.Booster
    calibration: Calibration

    @classmethod
    def of(cls, card: dict[str, Any], booster: xgb.Booster) -> Base:
        """From a card and its booster."""
        return cls(card, booster, calibration_from(card["calibration"]))

    def probability(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Calibrated probabilities of rows `x`, as serving computes them."""
        return self.calibration.apply_array(margins(self.booster, x))


@dataclass
class Adapted:
    """The adapted model: trees, calibration, thresholds, and what the method did."""

    booster: xgb.Booster
    calibration: Calibration
    thresholds: dict[str, Any]
    detail: dict[str, Any]

    def probability(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Calibrated probabilities of rows `x`."""
        return self.calibration.apply_array(margins(self.booster, x))


def stratified_ids(frame: pd.DataFrame, fraction: float, seed: int = SEED) -> frozenset[Any]:
    """A random `fraction` of the patients (`patient_id`) of `frame`, stratified by outcome (any `SepsisLabel` of
    theirs); nested: with one seed, a smaller fraction gives a subset of a larger one."""
    positive = frame.groupby("patient_id", sort=True)["SepsisLabel"].max()
    rng = np.random.default_rng(seed)
    chosen: list[Any] = []
    for group in (positive.index[positive == 1], positive.index[positive == 0]):
        order = rng.permutation(group.to_numpy())
        chosen += list(order[: int(round(len(order) * fraction))])
    return frozenset(chosen)


def _patients_mask(stays: Stays, fraction: float, seed: int) -> npt.NDArray[np.bool_]:
    """Rows of a stratified random `fraction` of the patients."""
    labelled = stays.rows.frame.assign(SepsisLabel=stays.rows.y)
    mask: npt.NDArray[np.bool_] = stays.patients().isin(stratified_ids(labelled, fraction, seed)).to_numpy(bool)
    return mask


def halves(stays: Stays, seed: int = SEED) -> tuple[Stays, Stays]:
    """(adaptation, validation): the site's stays split by patient (all of a patient's stays on one side), never
    by row."""
    validate = _patients_mask(stays, VALIDATE_FRACTION, seed)
    return stays.take(~validate), stays.take(validate)


def stays_take(stays: Stays, wanted: int | None, seed: int = SEED) -> Stays:
    """`wanted` of the adaptation stays (all without a number), stratified by outcome; whole patients are taken, the
    same fraction of them as `wanted` is of the stays (exactly `wanted` with one stay per patient)."""
    available = stays.counts()["stays"]
    if wanted is None or wanted == available:
        return stays
    if not 0 < wanted <= available:
        raise ValidationFailed(f"--stays {wanted}: the adaptation half holds {available} stays.")
    return stays.take(_patients_mask(stays, wanted / available, seed))


def events_check(adapt: Prepared, validate: Prepared, min_events: int) -> None:
    """Both the stays used and the validation half need `min_events` septic stays (Vergouwe et al. 2005)."""
    counts = septic_stays(adapt), septic_stays(validate)
    if min(counts) < min_events:
        raise ValidationFailed(
            f"Too few events: adaptation needs at least {min_events} septic stays among the stays it uses and in "
            f"the validation half (Vergouwe et al. 2005); this data gives {counts[0]} of "
            f"{pd.unique(adapt.patients).size} and {counts[1]} of {pd.unique(validate.patients).size}."
        )


def adapt_fit(method: str, base: Base, adapt: Prepared, training: Prepared | None = None, seed: int = SEED) -> Adapted:
    """Adapt `base` to the adaptation stays by `method` (refit also needs the original training stays)."""
    fits: dict[str, Callable[[], Adapted]] = {
        "recalibrate": lambda: _recalibrate(base, adapt),
        "isotonic": lambda: _isotonic(base, adapt),
        "continue-training": lambda: _continue(base, adapt, seed),
        "refit": lambda: _refit(adapt, training, seed),
    }
    if method not in fits:
        raise ValidationFailed(f"Unknown method {method!r}: one of {', '.join(METHODS)}.")
    return fits[method]()


WHERE = "the site's adaptation stays"


def _recalibrate(base: Base, adapt: Prepared) -> Adapted:
    margin = margins(base.booster, adapt.x)
    platt = platt_fit(margin, adapt.y)
    if platt.a <= 0:
        raise ValidationFailed(
            "On this site's stays the model's margin does not rise with risk (Platt slope "
            f"{platt.a:.3f}): recalibration cannot fix that; the model should not be used there."
        )
    return Adapted(base.booster, platt, _thresholds(platt.apply_array(margin), adapt), {})


def _isotonic(base: Base, adapt: Prepared) -> Adapted:
    from sklearn.isotonic import IsotonicRegression

    margin = margins(base.booster, adapt.x)
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(margin, adapt.y)
    iso = Isotonic(tuple(float(v) for v in fitted.X_thresholds_), tuple(float(v) for v in fitted.y_thresholds_))
    return Adapted(base.booster, iso, _thresholds(iso.apply_array(margin), adapt), {"knots": len(iso.margins)})


def _thresholds(prob: npt.NDArray[np.float64], part: Prepared) -> dict[str, Any]:
    thresholds = choose_thresholds(prob, part, WHERE)
    thresholds["utility_at_high_on_site_adaptation_stays"] = thresholds.pop("utility_at_high_on_set_a")
    return thresholds


def tune_split(adapt: Prepared, seed: int = SEED) -> tuple[Prepared, Prepared]:
    """(grow, tune): the adaptation stays split by patient, stratified by outcome."""
    tune_ids = stratified_ids(adapt.frame.assign(SepsisLabel=adapt.y), TUNE_FRACTION, seed)
    tune = adapt.frame["patient_id"].isin(tune_ids).to_numpy()
    return _subset(adapt, ~tune), _subset(adapt, tune)


def _calibrated(booster: xgb.Booster, tune: Prepared, detail: dict[str, Any]) -> Adapted:
    margin = margins(booster, tune.x)
    platt = platt_fit(margin, tune.y)
    return Adapted(booster, platt, _thresholds(platt.apply_array(margin), tune), detail)


def _continue(base: Base, adapt: Prepared, seed: int) -> Adapted:
    import xgboost as xgb

    grow, tune = tune_split(adapt, seed)
    params = {"objective": "binary:logistic", "tree_method": "hist", "nthread": common.NTHREAD, "seed": SEED}
    booster = xgb.train(
        {**params, **PARAMS},
        xgb.DMatrix(grow.x, label=grow.y, nthread=common.NTHREAD),
        num_boost_round=MORE_ROUNDS,
        evals=[(xgb.DMatrix(tune.x, label=tune.y, nthread=common.NTHREAD), "tune")],
        early_stopping_rounds=EARLY_STOP,
        verbose_eval=False,
        xgb_model=base.booster,
    )
    before = base.booster.num_boosted_rounds()
    kept = booster[: max(booster.best_iteration + 1, before)]
    return _calibrated(kept, tune, {"trees_before": before, "trees_added": kept.num_boosted_rounds() - before})


def _refit(adapt: Prepared, training: Prepared | None, seed: int) -> Adapted:
    if training is None:
        raise ValidationFailed(
            "refit pools the site's stays with the model's training set, which is not available here "
            "(its file is missing from the shared data or differs from the card's checksum)."
        )
    grow, tune = tune_split(adapt, seed)
    x, y = np.vstack([training.x, grow.x]), np.concatenate([training.y, grow.y])
    members = [
        xgb_fit(x, y, tune.x, tune.y, {**PARAMS, "seed": SEED + k}, ROUNDS, f"pooled trees {k + 1}/{REFIT_SEEDS}")
        for k in range(REFIT_SEEDS)
    ]
    detail = {
        "training_stays": int(training.groups.max() + 1),
        "training_rows": len(training.y),
        "seeds": REFIT_SEEDS,
        "trees_per_seed": [m.num_boosted_rounds() for m in members],
    }
    return _calibrated(boosters_average(members), tune, detail)


def compare(
    base: Base, adapted: Adapted, validate: Prepared, png: Any = None, title: str = ""
) -> dict[str, dict[str, Any]]:
    """Adapted and original model on the same validation stays, each at its own high threshold."""
    return {
        "adapted": evaluate(adapted.probability(validate.x), validate, adapted.thresholds["high"], png, title),
        "original": evaluate(base.probability(validate.x), validate, base.card["thresholds"]["high"], None),
    }
