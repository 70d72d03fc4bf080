"""Performance monitors on real data: the shipped sepsis version's scores of real PhysioNet stays, labelled by the
data set's own outcomes. A calibrated window (set-A calibration patients, the rows its Platt scaling was fitted
on) is not flagged; the same window with its outcomes linked to the wrong patients (a pseudonym mix-up at the
site) is, and the finding is audited and shown on /models/, the card, the monitoring page and /readyz."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from audit.models import AuditRecord
from cds_hooks.models import IssuedCard
from config.keys import pseudonymize
from scoring.features.hourly import hourly_features
from scoring.features.spec import SEPSIS_FEATURES
from scoring.models import ModelVersion, Outcome, OutcomeImport, PerformanceRun
from scoring.monitoring.evaluation import performance_check
from scoring.monitoring.labels import EXCLUDED, UNLABELLED, Observed, label
from scoring.monitoring.outcomes import OutcomeItem, outcomes_store, source_key
from scoring.monitoring.policy import monitor_policy_get, monitor_policy_update
from scoring.training.common import patient_split
from tests.scoring.conftest import serve_rows, stay_outcomes

ARTIFACT = Path(settings.BASE_DIR) / "scoring" / "artifacts" / "sepsis" / "1.1.2"
START = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
PATIENTS = 500
EVERY = 3  # hours between served scores (as a door scoring every 3 h would)
H = timedelta(hours=6)


def test_labels_respect_the_horizon() -> None:
    onset = [Observed(True, START + timedelta(hours=10))]
    at = [START + timedelta(hours=h) for h in (3, 4, 10, 16, 17)]
    assert [label(t, H, onset, ends_prediction=True) for t in at] == [0, 1, 1, 1, EXCLUDED]
    followed = [Observed(False, START + timedelta(hours=20))]
    assert [label(START + timedelta(hours=h), H, followed, ends_prediction=True) for h in (14, 15)] == [0, UNLABELLED]
    readmitted = [Observed(True, START + timedelta(days=20)), Observed(False, START + timedelta(days=60))]
    month = timedelta(days=30)
    assert label(START + timedelta(days=25), month, readmitted, ends_prediction=False) == 0  # not excluded after one
    assert (
        label(START, month, readmitted, ends_prediction=False) == 1
        and label(START, month, [], ends_prediction=False) == UNLABELLED
    )


@pytest.fixture(scope="session")
def calibration_stays() -> pd.DataFrame:
    """Hourly rows of the first PATIENTS set-A calibration patients (the version's Platt rows), with its scores."""
    import xgboost as xgb

    from scoring.artifact import Platt

    frame = pd.read_csv(Path(str(settings.SHARED_DATA)) / "physionet2019" / "physionet2019_training_setA.csv.gz")
    septic = frame.groupby("patient_id")["SepsisLabel"].max()
    split = patient_split(septic.index.to_numpy(), septic.to_numpy().astype(bool))
    chosen = sorted(split.calibrate)[:PATIENTS]
    frame = frame[frame["patient_id"].isin(chosen)].sort_values(["patient_id", "hour"]).reset_index(drop=True)
    x = hourly_features(frame, SEPSIS_FEATURES, dtype=np.float64)
    card = json.loads((ARTIFACT / "card.json").read_text())
    booster = xgb.Booster(model_file=str(ARTIFACT / "booster.json"))
    platt = Platt(card["calibration"]["a"], card["calibration"]["b"])
    frame["score"] = platt.apply_array(booster.predict(xgb.DMatrix(x), output_margin=True).astype(np.float64))
    frame["features"] = [[None if np.isnan(v) else float(v) for v in row] for row in x]
    return frame


def _serve(frame: pd.DataFrame, version: str) -> None:
    """Every EVERY-th hour of each stay served (every stay's hour 0 at START), as the recorder stores it."""
    served = frame[frame["hour"] % EVERY == 0]
    serve_rows(
        np.array([[np.nan if v is None else v for v in f] for f in served["features"]], dtype=np.float64),
        version,
        served["score"].to_numpy(),
        patients=[pseudonymize(f"physionet-{p}") for p in served["patient_id"]],
        times=[START + timedelta(hours=int(h)) for h in served["hour"]],
    )


@pytest.fixture
def shipped(db: Any) -> ModelVersion:
    call_command("install_models", verbosity=0)
    return ModelVersion.objects.get(name="sepsis")


def _check(mv: ModelVersion) -> PerformanceRun:
    return performance_check(mv, since=timezone.now() - timedelta(hours=1), until=timezone.now() + timedelta(hours=1))


def _judge_from(events: int) -> None:
    """500 calibration patients hold about 35 septic stays, fewer than the default 100 (Collins et al.)."""
    policy = monitor_policy_get("sepsis")
    monitor_policy_update(policy=policy, changes={"min_events": events}, actor="gov", reason="pilot window")


@override_settings(MONITORING_BOOTSTRAP=60)
def test_a_calibrated_window_is_not_flagged(shipped: ModelVersion, calibration_stays: pd.DataFrame) -> None:
    _serve(calibration_stays, shipped.version)
    outcomes_store(kind="file", source="set A labels", items=stay_outcomes(calibration_stays, START), actor="test")
    too_few = _check(shipped)
    assert too_few.verdict == "too_few" and too_few.results["patients"][0] < 100 < too_few.results["patients"][1]
    _judge_from(20)
    run = _check(shipped)
    assert run.verdict == "stable" and run.breaches == [], run.breaches
    r = run.results
    assert run.positives >= 100 and r["auroc"]["ci"][0] < 0.792 < r["auroc"]["ci"][1]  # the card's set-B AUROC
    assert r["calibration_slope"]["ci"][0] < 1 < r["calibration_slope"]["ci"][1]
    assert r["calibration_intercept"]["ci"][0] < 0 < r["calibration_intercept"]["ci"][1]
    assert set(r["subgroups"]) == {"female", "male", "age <45", "age 45-64", "age 65-79", "age 80+"}
    assert r["subgroups"]["male"]["judged"] and not r["subgroups"]["age <45"]["judged"]  # few septic under 45
    assert run.thresholds["auroc_min"] == pytest.approx(0.7921, abs=1e-4) and run.thresholds["min_events"] == 20
    assert AuditRecord.objects.filter(action="performance_check").last().output_summary["verdict"] == "stable"  # type: ignore[union-attr]


@override_settings(MONITORING_BOOTSTRAP=60)
def test_outcomes_linked_to_the_wrong_patients_are_a_finding_audited_and_shown(
    shipped: ModelVersion, calibration_stays: pd.DataFrame
) -> None:
    _serve(calibration_stays, shipped.version)
    outcomes_store(
        kind="file", source="mixed-up file", items=stay_outcomes(calibration_stays, START, mix_up=True), actor="test"
    )
    _judge_from(20)
    run = _check(shipped)
    assert run.verdict == "attention" and run.results["auroc"]["ci"][1] < 0.7
    assert "auroc" in {b["monitor"] for b in run.breaches}
    record = AuditRecord.objects.get(action="performance_check")
    assert record.output_summary["verdict"] == "attention" and record.model_version == shipped.version
    client = Client()
    assert "attention needed</strong>: " in client.get("/models/").content.decode()
    card = client.get(f"/models/sepsis/{shipped.version}/").content.decode()
    assert "Performance: attention needed" in card and "auroc 0." in card
    page = client.get(f"/models/sepsis/{shipped.version}/monitoring/").content.decode()
    assert page.count("<svg") == 3 and "AUROC per subgroup" in page and "calibration:" in page
    ready = client.get("/readyz").json()["components"]["model_registry"]
    sepsis = next(m for m in ready["models"] if m["name"] == "sepsis")
    assert sepsis["monitoring"] == "attention" and sepsis["ready"] and ready["status"] == "ok"


@override_settings(MONITORING_BOOTSTRAP=60)
def test_an_admin_threshold_is_applied_and_alert_burden_is_judged(
    shipped: ModelVersion, calibration_stays: pd.DataFrame
) -> None:
    few = calibration_stays[calibration_stays["patient_id"].isin(calibration_stays["patient_id"].unique()[:40])]
    _serve(few, shipped.version)
    outcomes_store(kind="file", source="set A labels", items=stay_outcomes(few, START), actor="test")
    assert _check(shipped).verdict == "too_few"  # fewer than 100 patients with the outcome
    row = few[(few["hour"] % EVERY == 0)].iloc[0]
    IssuedCard.objects.create(
        service_id="sepsis", hook="patient-view", hook_instance="h", client_iss="https://ehr", model_name="sepsis",
        model_version=shipped.version, scored=True, probability=0.3, band="high", indicator="critical",
        summary="s", patient_pseudonym=pseudonymize(f"physionet-{row.patient_id}"),
        as_of=START + timedelta(hours=int(row.hour)), outcome=IssuedCard.Outcome.OVERRIDDEN,
    )  # fmt: skip
    policy = monitor_policy_update(
        policy=monitor_policy_get("sepsis"),
        changes={"min_events": 5, "alerts_per_100_max": 1.0},
        actor="gov",
        reason="pilot",
    )
    run = _check(shipped)
    alerts = run.results["alerts"]
    assert alerts["alerts"] == 1 and alerts["overridden"] == 1 and alerts["alerts_per_100"] == pytest.approx(2.5)
    assert alerts["labelled"] == 1 and alerts["ppv"]["ci"] is not None
    assert run.verdict == "attention" and "alerts_per_100" in {b["monitor"] for b in run.breaches}
    assert run.thresholds["min_events"] == 5 and policy.changes.count() == 1


def test_outcome_rows_store_once(shipped: ModelVersion) -> None:
    item = OutcomeItem("sepsis", "a" * 64, True, START, source_key("x"))
    first = outcomes_store(kind="file", source="f", items=[item, item], actor="t")
    again = outcomes_store(kind="file", source="f", items=[item], actor="t")
    assert (first.rows, first.created, again.created) == (2, 1, 0) and Outcome.objects.count() == 1
    assert OutcomeImport.objects.count() == 2 and AuditRecord.objects.filter(action="outcome_import").count() == 2


def test_slope_and_intercept_track_a_recalibration_of_real_scores(calibration_stays: pd.DataFrame) -> None:
    from scipy.special import expit, logit

    from scoring.monitoring.performance import _interval, age_band, calibration_intercept, calibration_slope

    y, p = calibration_stays["SepsisLabel"].to_numpy().astype(np.int8), calibration_stays["score"].to_numpy()
    lp = logit(np.clip(p, 1e-6, 1 - 1e-6))
    slope, intercept = calibration_slope(y, p), calibration_intercept(y, p)
    assert slope is not None and intercept is not None
    assert calibration_slope(y, expit(2 * lp)) == pytest.approx(slope / 2, rel=1e-4)
    assert calibration_intercept(y, expit(lp + 1)) == pytest.approx(intercept - 1, abs=1e-6)
    assert calibration_slope(np.zeros(5, dtype=np.int8), p[:5]) is None
    assert calibration_intercept(np.zeros(5, dtype=np.int8), p[:5]) is None
    assert _interval([0.5] * 10) is None and age_band("age 45-64") == (45, 65) and age_band("ICU") is None


def test_each_threshold_needs_its_whole_interval_beyond_it() -> None:
    from scoring.monitoring.evaluation import breaches_of

    def metric(low: float, high: float) -> dict[str, Any]:
        return {"value": (low + high) / 2, "ci": [low, high]}

    results = {
        "auroc": metric(0.7, 0.8), "auprc": metric(0.1, 0.2), "ece": metric(0.03, 0.05),
        "calibration_slope": metric(1.1, 1.3), "calibration_intercept": metric(-0.9, -0.4),
        "subgroups": {"male": metric(0.5, 0.6), "female": {"value": None, "ci": None}},
    }  # fmt: skip
    bounds = {
        "auroc_min": 0.75, "auprc_min": None, "ece_max": 0.02, "slope_min": 1.0, "slope_max": 1.0,
        "intercept_max": 0.0, "subgroup_auroc_min": {"male": 0.7, "female": 0.7},
    }  # fmt: skip
    found = {b["monitor"]: b["text"] for b in breaches_of(results, bounds)}
    assert set(found) == {"ece", "calibration_slope", "calibration_intercept", "auroc (male)"}
    assert found["calibration_intercept"] == "calibration_intercept -0.650 (95% CI -0.900 to -0.400) below -0"
    results["calibration_intercept"] = metric(0.2, 0.4)
    assert "above 0" in {b["monitor"]: b["text"] for b in breaches_of(results, bounds)}["calibration_intercept"]
