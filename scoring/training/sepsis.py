"""Sepsis model: XGBoost on PhysioNet 2019 set A, calibrated and thresholded on held-out A patients,
evaluated on set B (an unseen hospital system) against NEWS2 and qSOFA on the same rows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from scoring.catalogue.sepsis import SEPSIS
from scoring.features.hourly import hourly_features
from scoring.features.spec import SEPSIS_FEATURES, SPEC_VERSION
from scoring.rules.news2 import MEDIUM_AT, news2_points_array
from scoring.rules.qsofa import POSITIVE_AT, qsofa_points_array
from scoring.training import metrics as m
from scoring.training.calibration import Platt, platt_fit
from scoring.training.common import margins, now_iso, patient_split, xgb_fit
from scoring.training.data import PHYSIONET_SET, physionet_load
from scoring.training.utility import normalized_utility

if TYPE_CHECKING:  # xgboost itself is imported lazily, inside the functions that run it
    import xgboost as xgb

TITLE = SEPSIS.title  # one definition: the catalogue's
HORIZON_HOURS = 6  # SepsisLabel is 1 from 6 h before Sepsis-3 onset (Reyna et al. 2020)
PARAMS = {
    "max_depth": 6,
    "eta": 0.08,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 5,
    "eval_metric": "auc",
    "max_bin": 128,
}
ROUNDS = 400
REFERENCE_ROWS_FROM = "set A held-out calibration patients (the training hospital)"
CHECK_ROWS = 2000  # external rows that check the ONNX export and feed the card's global explanation
MODERATE_SENSITIVITY = 0.80
INTENDED_USE = (
    "Decision support for adult ICU patients: estimates the probability that the patient meets "
    "Sepsis-3 criteria within the next 6 hours (PhysioNet 2019 label). It does not diagnose sepsis."
)
LIMITATIONS = (
    "Trained on the ICUs of one US hospital system (PhysioNet 2019 set A); set B, a second system it never "
    "saw, is the external check, not a prospective validation. Labels come from retrospective "
    "Sepsis-3 criteria. Missing values are "
    "passed to the model as missing (XGBoost default branches); scores are refused when required "
    "vitals are missing or older than 12 h. NEWS2/qSOFA baselines miss consciousness/GCS and oxygen, "
    "which PhysioNet does not record, so they are lower bounds. Measurement-count features (hours with "
    "a value in the last 6 h / 24 h) encode the training hospital's charting routine and may transfer "
    "poorly to a site that charts more or less often; the set-B figures are the check of that. "
    "Probabilities are calibrated on set-A patients; on set B they over-state the risk above about 0.1 "
    "(see the calibration table), so at a new hospital read them, and the bands, as a ranking until "
    "they are checked against local outcomes."
)
CITATIONS = (
    "Reyna MA, et al. Early Prediction of Sepsis From Clinical Data: the PhysioNet/Computing in Cardiology "
    "Challenge 2019. Crit Care Med 2020;48(2):210-217.",
    "Royal College of Physicians. National Early Warning Score (NEWS) 2. London: RCP, 2017.",
    "Singer M, et al. The Third International Consensus Definitions for Sepsis and Septic Shock "
    "(Sepsis-3). JAMA 2016;315(8):801-810.",
)
AGE_BANDS = ((0, 45, "<45"), (45, 65, "45-64"), (65, 80, "65-79"), (80, 200, "80+"))


@dataclass
class Prepared:
    """One set's feature matrix, labels and stay structure."""

    x: npt.NDArray[np.float32]
    y: npt.NDArray[np.int8]
    patients: npt.NDArray[Any]
    groups: npt.NDArray[np.int64]
    hour: npt.NDArray[np.float64]
    frame: pd.DataFrame


def prepare(which: str, limit_patients: int | None = None) -> tuple[Prepared, str]:
    """Load a set and build its features with the shared spec (optionally only its first N patients)."""
    print(f"Loading PhysioNet 2019 set {which} ...")
    frame, sha = physionet_load(which)
    if limit_patients:
        keep = frame["patient_id"].drop_duplicates().iloc[:limit_patients]
        frame = frame[frame["patient_id"].isin(keep)].reset_index(drop=True)
    return prepare_frame(frame), sha


def prepare_frame(frame: pd.DataFrame) -> Prepared:
    """Features (the shared spec), labels and stay structure of hourly rows in the PhysioNet layout."""
    x = hourly_features(frame, SEPSIS_FEATURES, progress=True, dtype=np.float32)
    groups = pd.factorize(frame["patient_id"])[0].astype(np.int64)
    slim = frame[["patient_id", "Age", "Gender", "hour"]].copy()
    return Prepared(
        x,
        frame["SepsisLabel"].to_numpy(np.int8),
        frame["patient_id"].to_numpy(),
        groups,
        frame["hour"].to_numpy(np.float64),
        slim,
    )


def _subset(p: Prepared, mask: npt.NDArray[np.bool_]) -> Prepared:
    groups = pd.factorize(p.patients[mask])[0].astype(np.int64)
    return Prepared(p.x[mask], p.y[mask], p.patients[mask], groups, p.hour[mask], p.frame[mask])


def choose_thresholds(
    prob: npt.NDArray[np.float64], part: Prepared, where: str = "held-out set-A patients"
) -> dict[str, Any]:
    """High = the probability maximising normalized utility on `part` (held-out set-A patients, or a site's
    recalibration patients); moderate = the probability reaching MODERATE_SENSITIVITY row-level sensitivity
    there (if below high)."""
    grid = np.unique(np.quantile(prob, np.linspace(0.5, 0.999, 250)))
    utilities = [normalized_utility(part.groups, part.hour, part.y, prob >= t) for t in grid]
    best = int(np.argmax(utilities))
    high = float(grid[best])
    pos = np.sort(prob[part.y == 1])
    moderate = float(pos[int((1 - MODERATE_SENSITIVITY) * len(pos))]) if len(pos) else high
    return {
        "moderate": min(moderate, high),
        "high": high,
        "utility_at_high_on_set_a": float(utilities[best]),
        "criterion": f"high: maximum normalized utility on {where}; moderate: "
        f"{MODERATE_SENSITIVITY:.0%} row-level sensitivity there",
    }


def evaluate(
    prob: npt.NDArray[np.float64],
    part: Prepared,
    high: float,
    png: Path | None,
    png_title: str = "Sepsis: set B (external)",
) -> dict[str, Any]:
    """All metrics of one evaluation set."""
    out: dict[str, Any] = {
        "auroc": m.auroc(part.y, prob),
        "auprc": m.auprc(part.y, prob),
        "utility": normalized_utility(part.groups, part.hour, part.y, prob >= high),
        "ece": m.ece(part.y, prob),
        "brier": m.brier(part.y, prob),
        "reliability": m.reliability_bins(part.y, prob),
        "n_rows": len(part.y),
        "n_patients": int(part.groups.max() + 1),
        "positive_rows": int(part.y.sum()),
        "septic_patients": int(pd.Series(part.y).groupby(part.groups).max().sum()),
    }
    age = part.frame["Age"].to_numpy()
    sex = part.frame["Gender"].to_numpy()
    groups = {"female": sex == 0, "male": sex == 1}
    groups |= {f"age {label}": (age >= lo) & (age < hi) for lo, hi, label in AGE_BANDS}
    out["subgroups"] = m.subgroup_auroc(part.y, prob, groups)
    out["baselines"] = baselines(prob, part, high)
    if png is not None:
        m.reliability_png(part.y, prob, png, png_title)
    return out


def baselines(prob: npt.NDArray[np.float64], part: Prepared, high: float) -> dict[str, Any]:
    """NEWS2 (>= 5 alarms) and qSOFA (>= 2 alarms) on the rows where each can be computed."""

    col = {f.name: j for j, f in enumerate(SEPSIS_FEATURES)}

    def v(name: str) -> npt.NDArray[np.float64]:
        return part.x[:, col[name]].astype(np.float64)

    scores = {
        "news2": (
            news2_points_array(
                resp_rate=v("Resp_last"),
                spo2=v("O2Sat_last"),
                sbp=v("SBP_last"),
                heart_rate=v("HR_last"),
                temperature=v("Temp_last"),
            ),
            MEDIUM_AT,
        ),
        "qsofa": (qsofa_points_array(resp_rate=v("Resp_last"), sbp=v("SBP_last")), POSITIVE_AT),
    }
    out: dict[str, Any] = {}
    for name, (points, alarm_at) in scores.items():
        ok = ~np.isnan(points)
        sub = _subset(part, ok)
        out[name] = {
            "coverage": float(ok.mean()),
            "n_rows": int(ok.sum()),
            "auroc": m.auroc(sub.y, points[ok]),
            "auprc": m.auprc(sub.y, points[ok]),
            "utility_at_alarm": normalized_utility(sub.groups, sub.hour, sub.y, points[ok] >= alarm_at),
            "alarm_at": alarm_at,
            "model_auroc_same_rows": m.auroc(sub.y, prob[ok]),
            "model_utility_same_rows": normalized_utility(sub.groups, sub.hour, sub.y, prob[ok] >= high),
        }
    return out


@dataclass
class Fitted:
    """A booster trained on set A with its calibration, thresholds and held-out set-A metrics."""

    booster: xgb.Booster
    platt: Platt
    thresholds: dict[str, Any]
    internal: dict[str, Any]
    parts: dict[str, Prepared]


def fit_on_set_a(
    set_a: Prepared, params: dict[str, Any] | None = None, train_labels: npt.NDArray[np.int8] | None = None
) -> Fitted:
    """Split set-A patients (train / early stopping / calibration), fit, calibrate, threshold, evaluate.

    `params` and `train_labels` (labels of the training rows, e.g. moved earlier) exist for comparing
    candidates (benchmarks/sepsis_candidates.py); early stopping and calibration always use SepsisLabel.
    """
    masks = set_a_masks(set_a)
    parts = {name: _subset(set_a, mask) for name, mask in masks.items()}
    y_train = parts["train"].y if train_labels is None else train_labels[masks["train"]]
    booster = xgb_fit(
        parts["train"].x,
        y_train,
        parts["early_stop"].x,
        parts["early_stop"].y,
        params or PARAMS,
        ROUNDS,
        "sepsis trees",
    )
    platt = platt_fit(margins(booster, parts["calibrate"].x), parts["calibrate"].y)
    cal_prob = platt.apply_array(margins(booster, parts["calibrate"].x))
    thresholds = choose_thresholds(cal_prob, parts["calibrate"])
    internal = evaluate(cal_prob, parts["calibrate"], thresholds["high"], None)
    return Fitted(booster, platt, thresholds, internal, parts)


def set_a_masks(set_a: Prepared) -> dict[str, npt.NDArray[np.bool_]]:
    """Row masks of the set-A patient split: train, early_stop, calibrate (stratified by patient outcome)."""
    positive = pd.Series(set_a.y).groupby(set_a.patients).max()
    split = patient_split(positive.index.to_numpy(), positive.to_numpy().astype(bool))
    return {
        name: pd.Series(set_a.patients).isin(ids).to_numpy()
        for name, ids in (("train", split.train), ("early_stop", split.early_stop), ("calibrate", split.calibrate))
    }


def reference_rows() -> npt.NDArray[np.float32]:
    """The held-out set-A calibration rows whose distribution is the version's reference profile."""
    set_a = prepare("A")[0]
    return set_a.x[set_a_masks(set_a)["calibrate"]]


def evaluate_external(fitted: Fitted, set_b: Prepared, png: Path | None) -> dict[str, Any]:
    """Set-B metrics of a model fitted on set A, at the threshold chosen on set A."""
    prob_b = fitted.platt.apply_array(margins(fitted.booster, set_b.x))
    return evaluate(prob_b, set_b, fitted.thresholds["high"], png)


def train(out_dir: Path, limit_patients: int | None = None) -> dict[str, Any]:
    """Train, calibrate, threshold and evaluate; returns the model card payload (artifacts not exported yet)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    set_a, sha_a = prepare("A", limit_patients)
    fitted = fit_on_set_a(set_a)
    del set_a
    set_b, sha_b = prepare("B", limit_patients)
    external = evaluate_external(fitted, set_b, out_dir / "reliability.png")
    return _card(
        fitted.booster,
        fitted.platt,
        fitted.thresholds,
        fitted.internal,
        external,
        fitted.parts,
        (sha_a, sha_b),
        set_b.x[:CHECK_ROWS],
    )


def explanation_rows() -> npt.NDArray[np.float32]:
    """The set-B rows `train` checks the ONNX export on and explains the model with (for published versions)."""
    return prepare("B")[0].x[:CHECK_ROWS]


def _card(
    booster: xgb.Booster,
    platt: Platt,
    thresholds: dict[str, Any],
    internal: dict[str, Any],
    external: dict[str, Any],
    parts: dict[str, Prepared],
    shas: tuple[str, str],
    check_rows: npt.NDArray[np.float32],
) -> dict[str, Any]:
    return {
        "name": "sepsis",
        "title": TITLE,
        "kind": "ml",
        "spec_version": SPEC_VERSION,
        "features": [f.name for f in SEPSIS_FEATURES],
        "horizon_hours": HORIZON_HOURS,
        "created_at": now_iso(),
        "hyperparameters": {**PARAMS, "rounds_max": ROUNDS},
        "trees": booster.num_boosted_rounds(),
        "calibration": {"method": "platt", "a": platt.a, "b": platt.b},
        "thresholds": thresholds,
        "training_data": {
            "files": [PHYSIONET_SET.format("A"), PHYSIONET_SET.format("B")],
            "sha256": {"A": shas[0], "B": shas[1]},
            "split": "set A patients: 70 % train, 15 % early stopping, 15 % calibration "
            "and threshold (stratified by patient outcome); set B only for evaluation",
        },
        "n_train": int(len(parts["train"].y)),
        "n_train_patients": int(parts["train"].groups.max() + 1),
        "metrics": {"internal_set_a_heldout": internal, "external_set_b": external},
        "intended_use": INTENDED_USE,
        "limitations": LIMITATIONS,
        "citations": CITATIONS,
        "_booster": booster,
        "_check_rows": check_rows,
        "_reference_rows": parts["calibrate"].x,
        "_reference_rows_from": REFERENCE_ROWS_FROM,
    }
