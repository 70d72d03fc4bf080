"""Findings open and close with the monitors' runs: a run with "attention" after one without opens a finding,
the same verdict again keeps it open (not announced again), any other verdict closes it; each monitor and each
version has its own. What a performance finding says is the thresholds it crossed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from scoring.models import DriftRun, PerformanceRun
from scoring.monitoring.findings import finding_get, opens_finding

BREACH = {"monitor": "auroc", "text": "auroc 0.610 (95% CI 0.550 to 0.660) below 0.792"}


def _drift(verdict: str, version: str = "1") -> DriftRun:
    now = timezone.now()
    return DriftRun.objects.create(
        model_name="sepsis", model_version=version, window_start=now - timedelta(days=7), window_end=now,
        rows=500, verdict=verdict, run_by="test",
    )  # fmt: skip


@pytest.mark.django_db
def test_a_finding_opens_after_a_run_without_one_and_stays_open_while_found_again() -> None:
    verdicts = ["stable", "attention", "attention", "too_few", "attention", "stable"]
    assert [opens_finding(_drift(v)) for v in verdicts] == [False, True, False, False, True, False]
    assert opens_finding(_drift("attention", version="2"))  # another version: its own finding


@pytest.mark.django_db
def test_a_performance_finding_says_which_thresholds_were_crossed() -> None:
    _drift("attention")  # the drift monitor's finding does not hold the performance monitor's open
    now = timezone.now()
    run = PerformanceRun.objects.create(
        model_name="sepsis", model_version="1", window_start=now - timedelta(days=7), window_end=now, rows=900,
        positives=120, verdict="attention", breaches=[BREACH], run_by="test",
    )  # fmt: skip
    assert opens_finding(run)
    finding = finding_get("performance", run.pk)
    assert finding.what == (BREACH["text"],) and finding.monitor == "performance" and finding.run_id == run.pk
