"""The demo's monitoring step: the sandbox's set-B stays served against the set-A reference give a drift finding."""

from __future__ import annotations

import gzip
from io import StringIO
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from datasources.catalogue import DEMO_SET_B, demo_patients
from scoring.models import DriftRun, Outcome, PerformanceRun, ServedInference
from scoring.monitoring.demo import monitoring_demo

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_dir(tmp_path: Path) -> Path:
    """A demo subset of 6 of the demo's set-B stays (3 septic), in the demo file's place."""
    frame = pd.read_csv(
        Path(str(settings.SHARED_DATA)) / "physionet2019" / "physionet2019_training_setB.csv.gz", nrows=60_000
    )
    frame = frame[frame["patient_id"].isin(demo_patients())]
    septic = frame.groupby("patient_id")["SepsisLabel"].max()
    chosen = list(septic[septic == 1].index[:3]) + list(septic[septic == 0].index[:3])
    path = tmp_path / DEMO_SET_B
    path.parent.mkdir(parents=True)
    with gzip.open(path, "wt") as handle:
        frame[frame["patient_id"].isin(chosen)].to_csv(handle, index=False)
    return tmp_path


@override_settings(MONITORING_MIN_ROWS=20)
def test_the_command_reports_the_runs(demo_dir: Path, monkeypatch: Any) -> None:
    out = StringIO()
    monkeypatch.setattr(settings, "SHARED_DATA", str(demo_dir))
    call_command("monitoring_demo", stdout=out)
    assert "no active sepsis version" in out.getvalue()
    call_command("install_models", verbosity=0)
    call_command("monitoring_demo", stdout=out)
    assert "drift attention" in out.getvalue() and "/models/sepsis/1.1.2/monitoring/" in out.getvalue()


@override_settings(MONITORING_MIN_ROWS=20)
def test_the_demo_serves_set_b_and_finds_drift(demo_dir: Path, monkeypatch: Any) -> None:
    assert monitoring_demo(demo_dir) is None  # nothing installed yet
    call_command("install_models", verbosity=0)
    drift, performance = monitoring_demo(demo_dir)  # type: ignore[misc]
    assert drift.verdict == "attention" and drift.rows == ServedInference.objects.filter(model_name="sepsis").count()
    assert {"HCO3_last", "BaseExcess_last"} & set(drift.flagged) and performance.verdict == "too_few"
    # p100016's stay ends 5 h after its first labelled hour, before its onset (labelled hour + 6 h): followed
    # without sepsis to its end, as the sandbox charts it (no Condition)
    assert Outcome.objects.filter(occurred=True).count() == 2 and Outcome.objects.count() == 6
    monkeypatch.setattr(settings, "SHARED_DATA", str(demo_dir))
    out = StringIO()
    call_command("monitoring_demo", stdout=out)
    assert "already run" in out.getvalue() and DriftRun.objects.count() == 1 and PerformanceRun.objects.count() == 1
