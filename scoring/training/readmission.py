"""30-day readmission model on Diabetes-130 (patient-level split), features mappable to FHIR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from scoring.catalogue.readmission import READMISSION
from scoring.features.readmission import readmission_table_features
from scoring.features.spec import READMISSION_FEATURES, READMISSION_HORIZON_DAYS, SPEC_VERSION
from scoring.training import metrics as m
from scoring.training.calibration import platt_fit
from scoring.training.common import SEED, Split, margins, now_iso, patient_split, xgb_fit
from scoring.training.data import DIABETES_ZIP, diabetes_load

TITLE = READMISSION.title  # one definition: the catalogue's
# Discharged to death or hospice cannot be readmitted (IDs_mapping.csv: 11, 13, 14, 19, 20, 21).
EXCLUDED_DISPOSITIONS = (11, 13, 14, 19, 20, 21)
PARAMS = {"max_depth": 4, "eta": 0.05, "subsample": 0.8, "colsample_bytree": 0.8, "min_child_weight": 20}
ROUNDS = 600
REFERENCE_ROWS_FROM = "calibration patients (training data, not the held-out test)"
CHECK_ROWS = 2000  # held-out rows that check the ONNX export and feed the card's global explanation
TEST_FRACTION = 0.2
MODERATE_SENSITIVITY = 0.80
AGE_BANDS = ((0, 50, "<50"), (50, 70, "50-69"), (70, 200, "70+"))
INTENDED_USE = (
    "At discharge of an adult with diabetes: estimates the probability of an unplanned readmission "
    "within 30 days, to prioritise transition-of-care follow-up."
)
LIMITATIONS = (
    "Trained on 1999-2008 encounters of 130 US hospitals (Cerner Health Facts, Diabetes-130); patients "
    "discharged to hospice or who died are excluded. The held-out test set is patients from the same "
    "hospitals, not an external site. FHIR serving maps diagnosis groups from ICD-9/ICD-10 codes only "
    "(SNOMED-only conditions count as 'other') and medications by generic name. 'Earlier inpatient stays on "
    "record' was learned from the patient's earlier Diabetes-130 encounters (diabetic stays that met the "
    "data set's criteria) or the prior-year count if larger; an EHR counting every inpatient stay of the "
    "last ten years may report more."
)
CITATIONS = (
    "Strack B, et al. Impact of HbA1c Measurement on Hospital Readmission Rates: Analysis of 70,000 "
    "Clinical Database Patient Records. BioMed Res Int 2014;2014:781670.",
)


def prepare() -> tuple[pd.DataFrame, npt.NDArray[np.float32], npt.NDArray[np.int8], str]:
    print("Loading Diabetes-130 ...")
    frame, sha = diabetes_load()
    x = readmission_table_features(frame).astype(np.float32)  # before exclusion: history counts every stay
    keep = ~frame["discharge_disposition_id"].isin(EXCLUDED_DISPOSITIONS).to_numpy()
    frame, x = frame[keep].reset_index(drop=True), x[keep]
    y = (frame["readmitted"] == "<30").to_numpy(np.int8)
    return frame, x, y, sha


def _thresholds(prob: npt.NDArray[np.float64], y: npt.NDArray[np.int8]) -> dict[str, Any]:
    from sklearn.metrics import roc_curve

    fpr, tpr, thr = roc_curve(y, prob)
    high = float(thr[int(np.argmax(tpr - fpr))])
    pos = np.sort(prob[y == 1])
    moderate = float(pos[int((1 - MODERATE_SENSITIVITY) * len(pos))])
    return {
        "moderate": min(moderate, high),
        "high": high,
        "criterion": "high: maximum Youden J on the calibration patients; moderate: "
        f"{MODERATE_SENSITIVITY:.0%} sensitivity there",
    }


def _evaluate(
    prob: npt.NDArray[np.float64], y: npt.NDArray[np.int8], frame: pd.DataFrame, png: Path | None
) -> dict[str, Any]:
    age = frame["age"].str.extract(r"\[(\d+)-")[0].astype(float).to_numpy()
    groups = {"female": (frame["gender"] == "Female").to_numpy(), "male": (frame["gender"] == "Male").to_numpy()}
    groups |= {f"age {label}": (age >= lo) & (age < hi) for lo, hi, label in AGE_BANDS}
    if png is not None:
        m.reliability_png(y, prob, png, "Readmission: held-out patients")
    return {
        "auroc": m.auroc(y, prob),
        "auprc": m.auprc(y, prob),
        "ece": m.ece(y, prob),
        "brier": m.brier(y, prob),
        "reliability": m.reliability_bins(y, prob),
        "n_rows": len(y),
        "n_patients": int(frame["patient_nbr"].nunique()),
        "positive_rows": int(y.sum()),
        "subgroups": m.subgroup_auroc(y, prob, groups),
    }


def split_by_patient(
    patients: npt.NDArray[Any], y: npt.NDArray[np.int8]
) -> tuple[npt.NDArray[np.bool_], dict[str, npt.NDArray[np.bool_]], Split]:
    """Row masks: held-out test patients, then train / early-stop ("es") / calibration ("cal") among the rest."""
    unique = pd.unique(patients)
    rng = np.random.default_rng(SEED)
    test_ids = set(rng.choice(unique, size=int(len(unique) * TEST_FRACTION), replace=False))
    is_test = pd.Series(patients).isin(test_ids).to_numpy()
    positive = pd.Series(y[~is_test]).groupby(patients[~is_test]).max()
    split = patient_split(positive.index.to_numpy(), positive.to_numpy().astype(bool))
    parts = {
        name: pd.Series(patients).isin(ids).to_numpy() & ~is_test
        for name, ids in (("train", split.train), ("es", split.early_stop), ("cal", split.calibrate))
    }
    return is_test, parts, split


def train(out_dir: Path, limit_patients: int | None = None) -> dict[str, Any]:
    """Train, calibrate, threshold and evaluate on held-out patients; returns the card payload."""
    out_dir.mkdir(parents=True, exist_ok=True)
    frame, x, y, sha = prepare()
    frame, x, y, patients = _limited(frame, x, y, limit_patients)
    is_test, parts, split = split_by_patient(patients, y)
    booster = xgb_fit(
        x[parts["train"]], y[parts["train"]], x[parts["es"]], y[parts["es"]], PARAMS, ROUNDS, "readmission trees"
    )
    platt = platt_fit(margins(booster, x[parts["cal"]]), y[parts["cal"]])
    cal_prob = platt.apply_array(margins(booster, x[parts["cal"]]))
    thresholds = _thresholds(cal_prob, y[parts["cal"]])
    test_prob = platt.apply_array(margins(booster, x[is_test]))
    return {
        "name": "readmission",
        "title": TITLE,
        "kind": "ml",
        "spec_version": SPEC_VERSION,
        "features": [f.name for f in READMISSION_FEATURES],
        "horizon_hours": READMISSION_HORIZON_DAYS * 24,
        "created_at": now_iso(),
        "hyperparameters": {**PARAMS, "rounds_max": ROUNDS},
        "trees": booster.num_boosted_rounds(),
        "calibration": {"method": "platt", "a": platt.a, "b": platt.b},
        "thresholds": thresholds,
        "training_data": {
            "files": [DIABETES_ZIP],
            "sha256": {"diabetes130": sha},
            "split": "patients (patient_nbr): 20 % held-out test; the rest 70 % train, 15 % early "
            "stopping, 15 % calibration and threshold; no patient on two sides",
        },
        "n_train": int(parts["train"].sum()),
        "n_train_patients": int(len(split.train)),
        "metrics": {
            "internal_calibration_split": _evaluate(cal_prob, y[parts["cal"]], frame[parts["cal"]], None),
            "external_heldout_patients": _evaluate(test_prob, y[is_test], frame[is_test], out_dir / "reliability.png"),
        },
        "intended_use": INTENDED_USE,
        "limitations": LIMITATIONS,
        "citations": CITATIONS,
        "_booster": booster,
        "_check_rows": x[is_test][:CHECK_ROWS],
        "_reference_rows": x[parts["cal"]],
        "_reference_rows_from": REFERENCE_ROWS_FROM,
    }


def _limited(
    frame: pd.DataFrame, x: npt.NDArray[np.float32], y: npt.NDArray[np.int8], limit_patients: int | None
) -> tuple[pd.DataFrame, npt.NDArray[np.float32], npt.NDArray[np.int8], npt.NDArray[Any]]:
    """The rows of the first `limit_patients` patients (all when None), and each row's patient."""
    patients = frame["patient_nbr"].to_numpy()
    if not limit_patients:
        return frame, x, y, patients
    keep = pd.Series(patients).isin(set(pd.unique(patients)[:limit_patients])).to_numpy()
    return frame[keep].reset_index(drop=True), x[keep], y[keep], patients[keep]


def explanation_rows() -> npt.NDArray[np.float32]:
    """The held-out rows `train` checks the ONNX export on and explains the model with (for published versions)."""
    frame, x, y, _ = prepare()
    is_test = split_by_patient(frame["patient_nbr"].to_numpy(), y)[0]
    return x[is_test][:CHECK_ROWS]


def reference_rows() -> npt.NDArray[np.float32]:
    """The calibration rows whose distribution is the version's reference profile."""
    frame, x, y, _ = prepare()
    return x[split_by_patient(frame["patient_nbr"].to_numpy(), y)[1]["cal"]]
