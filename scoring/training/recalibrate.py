"""Local recalibration of a sepsis model: the same trees, with Platt calibration and thresholds refitted on a site's
own labelled ICU stays, and the result measured on other stays of that site.

A model trained at one hospital ranks patients at another about as well as its external check says, but its
probabilities need not transfer (sepsis 1.1.2 over-states risk above 0.1 on PhysioNet set B). Logistic
recalibration of the margin is the first step of the calibration hierarchy (Van Calster B, et al. A calibration
hierarchy for risk models was defined: from utopia to empirical data. J Clin Epidemiol 2016;74:167-176) and leaves
the ranking, hence the AUROC, unchanged. Half of the site's patients (stratified by outcome) fit it and choose the
thresholds; the other half measure it, next to the original calibration on the same rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from config.errors import ValidationFailed
from scoring.training.calibration import Platt, platt_fit
from scoring.training.common import margins, now_iso, patient_split
from scoring.training.data import physionet_read
from scoring.training.publish import RELIABILITY_PNG
from scoring.training.sepsis import Prepared, _subset, choose_thresholds, evaluate, prepare_frame
from scoring.training.site import MIN_SEPTIC_STAYS, base_load
from scoring.training.site_physionet import columns_check, labels_check

__all__ = ["MIN_SEPTIC_STAYS", "recalibrate"]

FIT_FRACTION = 0.5


def _site_rows(path: Path) -> tuple[pd.DataFrame, str]:
    """The site's hourly rows, with every column the features and labels need (values may be empty)."""
    try:
        frame, sha = physionet_read(path)
    except (OSError, ValueError, KeyError) as exc:
        raise ValidationFailed(f"{path} cannot be read as PhysioNet-layout CSV: {exc}") from exc
    columns_check(frame, path)
    labels_check(frame, path)
    return frame, sha


def _halves(site: Prepared, min_septic: int) -> tuple[Prepared, Prepared]:
    """(fit, measure): patients split in two, stratified by outcome; each half needs `min_septic` septic stays."""
    positive = pd.Series(site.y).groupby(site.patients).max()
    split = patient_split(positive.index.to_numpy(), positive.to_numpy().astype(bool), (0.0, FIT_FRACTION))
    fit = _subset(site, pd.Series(site.patients).isin(split.calibrate).to_numpy())
    measure = _subset(site, pd.Series(site.patients).isin(split.train).to_numpy())
    septic = [int(pd.Series(p.y).groupby(p.groups).max().sum()) if len(p.y) else 0 for p in (fit, measure)]
    if min(septic) < min_septic:
        raise ValidationFailed(
            f"Recalibration needs at least {min_septic} septic stays in each half of the site's "
            f"patients (Vergouwe et al. 2005); this file gives {septic[0]} and {septic[1]} "
            f"({int(positive.sum())} of {len(positive)} stays septic)."
        )
    return fit, measure


def recalibrate(base_folder: Path, data: Path, out_dir: Path, min_septic: int = MIN_SEPTIC_STAYS) -> dict[str, Any]:
    """The card payload of the recalibrated version (artifacts written by `publish`); nothing is written on error."""
    card, booster = base_load(base_folder)
    frame, sha = _site_rows(data)
    fit, measure = _halves(prepare_frame(frame), min_septic)
    platt = platt_fit(margins(booster, fit.x), fit.y)
    if platt.a <= 0:
        raise ValidationFailed(
            "On this site's stays the model's margin does not rise with risk (Platt slope "
            f"{platt.a:.3f}): recalibration cannot fix that; the model should not be used there."
        )
    thresholds = choose_thresholds(
        platt.apply_array(margins(booster, fit.x)), fit, f"the site's recalibration patients ({data.name})"
    )
    thresholds["utility_at_high_on_site_fit_half"] = thresholds.pop("utility_at_high_on_set_a")
    measure_margin = margins(booster, measure.x)
    before = Platt(card["calibration"]["a"], card["calibration"]["b"])
    out_dir.mkdir(parents=True, exist_ok=True)
    local = evaluate(
        platt.apply_array(measure_margin),
        measure,
        thresholds["high"],
        out_dir / RELIABILITY_PNG,
        f"Sepsis: {data.name}, recalibrated (held-out half)",
    )
    original = evaluate(before.apply_array(measure_margin), measure, card["thresholds"]["high"], None)
    n = {"fit": int(fit.groups.max() + 1), "measure": int(measure.groups.max() + 1)}
    return {
        **{k: v for k, v in card.items() if k not in ("sha256", "artifacts", "version", "booster_sha256")},
        "created_at": now_iso(),
        "calibration": {"method": "platt", "a": platt.a, "b": platt.b},
        "thresholds": thresholds,
        "training_data": {**card["training_data"], "sha256": {**card["training_data"]["sha256"], "recalibration": sha}},
        "recalibration": {
            "base_version": card.get("version"),
            "base_sha256": card.get("sha256"),
            "data_file": data.name,
            "data_sha256": sha,
            "patients": n,
            "method": "Platt refit on the unchanged trees' margin, thresholds re-chosen; half of the "
            "site's patients fit it, the other half measure it",
        },
        "metrics": {
            "external_site_heldout": local,
            "original_calibration_site_heldout": original,
            **{f"training_{k}": v for k, v in card["metrics"].items()},
        },
        "limitations": f"{card.get('limitations', '')} Recalibrated on {data.name} ({n['fit']} stays fit it, "
        f"{n['measure']} others measure it): its probabilities and bands are fitted to that site; "
        "its ranking is the original model's.",
        "_booster": booster,
        "_check_rows": measure.x[:2000],
        "_reference_rows": fit.x,
        "_reference_rows_from": f"{data.name}: the site's recalibration patients",
    }
