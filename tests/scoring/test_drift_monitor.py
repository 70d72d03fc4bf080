"""Drift monitors: known shifts found, no shift not flagged; runs stored, audited, shown on /models/ and the card."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.template.defaultfilters import floatformat
from django.test import Client, override_settings
from django.utils import timezone

from audit.models import AuditRecord
from config.tasks import monitor_models
from scoring.features.spec import SEPSIS_FEATURES
from scoring.models import DriftRun, ServedInference
from scoring.monitoring.drift import column_drift, effective_size, profile_drift, psi, psi_level
from scoring.monitoring.profile import column_profile
from scoring.monitoring.services import drift_check
from tests.scoring.conftest import serve_rows, tiny_scores

RNG = np.random.default_rng(7)
REFERENCE = column_profile(RNG.normal(0, 1, 20_000))


@pytest.mark.parametrize("n", [300, 5000])
def test_same_distribution_is_not_flagged(n: int) -> None:
    result = column_drift(REFERENCE, np.random.default_rng(n).normal(0, 1, n))
    assert not result["flagged"] and result["psi_level"] == "none"
    assert result["test"] == ("kolmogorov-smirnov" if n <= 1000 else "wasserstein (normed by reference std)")


@pytest.mark.parametrize("n", [300, 5000])
def test_a_shifted_mean_is_flagged(n: int) -> None:
    result = column_drift(REFERENCE, np.random.default_rng(n).normal(0.6, 1, n))
    assert result["drift"] and result["flagged"]


def test_missingness_drift_is_flagged_without_a_value_shift() -> None:
    values = np.random.default_rng(1).normal(0, 1, 2000)
    values[:800] = np.nan
    result = column_drift(REFERENCE, values)
    assert result["missing_drift"] and not result["drift"] and result["flagged"]
    assert result["missing_share"] == pytest.approx(0.4) and result["reference_missing_share"] == 0


def test_discrete_columns_use_chi_squared_or_jensen_shannon() -> None:
    reference = column_profile(np.array([0.0] * 8000 + [1.0] * 2000))
    small = column_drift(reference, np.array([0.0] * 200 + [1.0] * 200))
    large = column_drift(reference, np.array([0.0] * 4000 + [1.0] * 1000))
    assert small["test"] == "chi-squared" and small["flagged"]
    assert large["test"] == "jensen-shannon" and not large["flagged"]


def test_a_finding_needs_a_major_change_or_half_the_columns() -> None:
    rng = np.random.default_rng(3)
    profile = {"features": {f"f{i}": REFERENCE for i in range(9)}, "score": REFERENCE}
    same = rng.normal(0, 1, (3000, 9))
    nudged = same.copy()
    nudged[:, 0] += 0.15  # Wasserstein 0.15 flags it; PSI stays below 0.25: no finding
    moved = same.copy()
    moved[:, 0] += 1.5  # PSI far above 0.25 on 3,000 values: a finding
    found = {
        name: profile_drift(profile, [f"f{i}" for i in range(9)], x, rng.normal(0, 1, 3000))
        for name, x in (("same", same), ("nudged", nudged), ("moved", moved))
    }
    assert not found["same"]["flagged"] and not found["same"]["attention"]
    assert found["nudged"]["flagged"] == ["f0"] and not found["nudged"]["attention"]
    assert found["moved"]["major"] == ["f0"] and found["moved"]["attention"]


def test_psi_on_few_values_is_not_a_major_change() -> None:
    few = np.random.default_rng(4).normal(0, 1, 1000)
    few[:960] = np.nan
    few[960:] += 0.3
    result = column_drift(column_profile(np.concatenate([np.full(19_000, np.nan), RNG.normal(0, 1, 1000)])), few)
    assert result["present"] == 40 and not result["major"]


def test_psi_convention() -> None:
    assert psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0
    assert psi_level(0.05) == "none" and psi_level(0.1) == "moderate" and psi_level(0.25) == "major"


def test_rows_of_one_patient_count_by_what_they_are_worth() -> None:
    rng = np.random.default_rng(5)
    alike = np.repeat(rng.normal(0, 1, 20), 50) + rng.normal(0, 0.05, 1000)  # 20 patients, 50 near-equal rows
    patients = np.repeat(np.arange(20), 50)
    assert 20 <= effective_size(alike, patients) < 25
    unlike = rng.normal(0, 1, 1000)  # rows of a patient no more alike than anyone's
    assert effective_size(unlike, patients) > 800
    assert effective_size(alike, np.arange(1000)) == 1000 == effective_size(alike, None)
    assert effective_size(np.ones(100), np.repeat(np.arange(4), 25)) == 4  # no spread at all: one per patient
    assert effective_size(alike[:50], patients[:50]) == 1  # one patient tells nothing of a population


def test_a_ward_of_patients_scored_again_and_again_is_not_drift() -> None:
    """20 patients from the reference population, each served 50 times (chart opens, hook calls, rescores):
    as 1,000 independent rows the lumpy sample looks shifted; as 20 patients it does not."""
    rng = np.random.default_rng(11)
    values = np.repeat(rng.normal(0, 1, 20), 50) + rng.normal(0, 0.05, 1000)
    patients = np.repeat([f"p{i}" for i in range(20)], 50)
    independent = column_drift(REFERENCE, values)
    grouped = column_drift(REFERENCE, values, groups=patients)
    assert independent["flagged"] and independent["test"] == "kolmogorov-smirnov"
    assert not grouped["flagged"] and grouped["effective_present"] < 30, grouped
    moved = column_drift(REFERENCE, values + 2.0, groups=patients)  # the same ward, every value 2 SD higher
    assert moved["drift"] and moved["flagged"]


def test_a_major_change_needs_its_test_to_survive_the_number_of_columns() -> None:
    values = np.random.default_rng(6).normal(0, 1, 600)
    values[:54] = np.nan  # 9 % missing against 6.5 % in the reference: binomial p about 0.02
    reference = column_profile(np.concatenate([np.full(1_300, np.nan), RNG.normal(0, 1, 18_700)]))
    alone = column_drift(reference, values, missing_change=0.02, confirm=0.05)  # one column tested
    among_many = column_drift(reference, values, missing_change=0.02, confirm=0.05 / 188)  # one of 188
    assert 0.05 / 188 < alone["missing_p_value"] < 0.05
    assert alone["major"] and alone["missing_drift"]
    assert among_many["missing_drift"] and not among_many["major"]  # still flagged, no finding of its own


def test_levels_the_reference_rarely_had_are_tested_exactly() -> None:
    """Chi-squared does not hold for bins expecting fewer than 5 values: a rare level is tested by the exact
    binomial test, so one stray value is not drift and a rare level turned common is, however few the values."""
    reference = column_profile(np.array([0.0] * 9_990 + [1.0] * 10))  # a rare level: 0.1 %
    stray = column_drift(reference, np.array([0.0] * 299 + [1.0]))  # 1 where 0.3 are expected
    surge = column_drift(reference, np.array([0.0] * 150 + [1.0] * 150), groups=np.repeat(np.arange(30), 10))
    assert stray["test"] == surge["test"] == "exact binomial (rare level)"
    assert not stray["drift"] and stray["p_value"] > 0.2
    assert surge["drift"] and surge["effective_present"] < 300
    never = column_profile(np.zeros(10_000))  # a level the reference never had (EtCO2 where it was not charted)
    assert column_drift(never, np.array([0.0] * 20 + [1.0] * 20))["drift"]
    common = column_profile(np.array([0.0] * 8_000 + [1.0] * 2_000))  # every bin expects enough: chi-squared
    assert column_drift(common, np.array([0.0] * 240 + [1.0] * 60))["test"] == "chi-squared"
    halves = column_profile(np.array([0.0] * 5_000 + [1.0] * 5_000))  # 8 patients: every bin expects < 5
    moved = column_drift(halves, np.full(40, 2.0), groups=np.repeat(np.arange(8), 5))
    assert moved["effective_present"] == 8 and moved["drift"]  # a level never seen, in every patient
    thirds = column_profile(np.array([0.0] * 4_000 + [1.0] * 3_000 + [2.0] * 3_000))
    patients = np.repeat(np.arange(5), (34, 3, 3, 1, 1))  # worth 1.5 values: no drift from rounding
    assert not column_drift(thirds, np.repeat([0.0, 0, 0, 1, 1], (34, 3, 3, 1, 1)), groups=patients)["drift"]


@pytest.mark.django_db
@override_settings(MONITORING_MIN_ROWS=50)
def test_serving_the_reference_rows_is_stable(
    registered: Any, tiny_artifacts: Path, sample_rows: np.ndarray, sample_patients: list[str]
) -> None:
    scores = tiny_scores(registered, tiny_artifacts, sample_rows)
    serve_rows(sample_rows, registered.version, scores, patients=sample_patients)
    run = drift_check(registered, since=timezone.now() - timedelta(days=1), until=timezone.now() + timedelta(1))
    assert run.verdict == "stable" and run.flagged == [] and run.rows == len(sample_rows), run.flagged
    hr = run.results["HR_last"]  # a stay's hourly rows are alike: worth far fewer than independent rows
    assert hr["effective_present"] < hr["present"] / 2, hr


@pytest.mark.django_db
@override_settings(MONITORING_MIN_ROWS=50)
def test_a_recording_change_is_a_finding_audited_and_shown(
    registered: Any, tiny_artifacts: Path, sample_rows: np.ndarray, sample_patients: list[str]
) -> None:
    names = [f.name for f in SEPSIS_FEATURES]
    shifted = sample_rows.copy()
    shifted[:, names.index("HCO3_last")] = np.nan  # a site that does not chart bicarbonate
    shifted[:, names.index("Temp_last")] = shifted[:, names.index("Temp_last")] * 1.8 + 32  # Fahrenheit
    serve_rows(shifted, registered.version, tiny_scores(registered, tiny_artifacts, shifted), patients=sample_patients)
    out = StringIO()
    call_command("monitor_models", "--model", "sepsis", "--since", "1d", stdout=out)
    run = DriftRun.objects.get()
    assert run.verdict == "attention" and {"HCO3_last", "Temp_last"} <= set(run.flagged)
    assert run.results["Temp_last"]["major"] and run.results["Temp_last"]["psi_level"] == "major"
    assert "HR_last" not in run.flagged and "sepsis 0.0.1-test: attention" in out.getvalue()
    record = AuditRecord.objects.get(action="drift_check")
    assert record.output_summary["verdict"] == "attention" and record.model_version == registered.version
    assert "Temp_last" in record.output_summary["major"]
    client = Client()
    assert "attention needed" in client.get("/models/").content.decode()
    card = client.get(f"/models/sepsis/{registered.version}/").content.decode()
    assert "Drift: attention needed" in card and "HCO3_last" in card
    temp = run.results["Temp_last"]
    worth = floatformat(temp["effective_present"], 0)  # as the template rounds it
    assert f"<td>{temp['present']} ({worth})</td>" in card  # values, and what they are worth
    page = client.get(f"/models/sepsis/{registered.version}/monitoring/").content.decode()
    # heatmap, score distribution, and the alert burden of the performance run the command also made
    assert page.count("<svg") == 3 and "Temp_last: PSI" in page and "attention needed" in page
    assert "sepsis 0.0.1-test performance: too_few (0 labelled" in out.getvalue()
    assert client.get("/models/sepsis/9.9.9/monitoring/").status_code == 404
    ready = client.get("/readyz").json()["components"]["model_registry"]
    sepsis = next(m for m in ready["models"] if m["name"] == "sepsis")
    assert sepsis["monitoring"] == "attention" and sepsis["ready"] and ready["status"] == "ok"


@pytest.mark.django_db
def test_too_few_served_is_said_and_the_daily_task_purges(registered: Any) -> None:
    serve_rows(np.zeros((3, len(SEPSIS_FEATURES))), registered.version, np.zeros(3))
    ServedInference.objects.filter(pk=ServedInference.objects.first().pk).update(  # type: ignore[union-attr]
        recorded_at=timezone.now() - timedelta(days=400)
    )
    outcome = monitor_models()
    assert outcome["runs"] == {f"sepsis {registered.version}": "too_few"}
    assert outcome["purged"]["served_inferences"] == 1 and ServedInference.objects.count() == 2


@pytest.mark.django_db
def test_command_refuses_an_unknown_model_and_a_bad_since(registered: Any) -> None:
    with pytest.raises(CommandError, match="No model named 'nope'"):
        call_command("monitor_models", "--model", "nope")
    with pytest.raises(CommandError, match="neither an ISO date"):
        call_command("monitor_models", "--since", "last tuesday")
    assert not DriftRun.objects.exists()


@pytest.mark.django_db
@override_settings(MONITORING_MIN_ROWS=50)
def test_the_drift_thresholds_come_from_the_monitor_policy(
    registered: Any, tiny_artifacts: Path, sample_rows: np.ndarray, sample_patients: list[str]
) -> None:
    from scoring.monitoring.policy import monitor_policy_get, monitor_policy_update

    names = [f.name for f in SEPSIS_FEATURES]
    shifted = sample_rows.copy()
    shifted[:, names.index("HCO3_last")] = np.nan
    serve_rows(shifted, registered.version, tiny_scores(registered, tiny_artifacts, shifted), patients=sample_patients)
    since, until = timezone.now() - timedelta(days=1), timezone.now() + timedelta(1)
    assert drift_check(registered, since=since, until=until).verdict == "attention"  # missing share moved >= 0.10
    changes = {"missing_change": 1.0, "psi_major": 100.0, "drift_share": 1.0}
    monitor_policy_update(policy=monitor_policy_get("sepsis"), changes=changes, actor="gov", reason="pilot")
    run = drift_check(registered, since=since, until=until)
    assert run.verdict == "stable" and "HCO3_last" in run.flagged  # still flagged by its test, no longer major
