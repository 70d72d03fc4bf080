"""The demo's monitoring: the sandbox's set-B PhysioNet stays served against the set-A reference, then checked.

`manage.py monitoring_demo` (a `demo_setup` step) scores the 200 set-B stays the sandbox EHR loads
(`datasources.catalogue.demo_patients`, the same ids, ending at the same hour as the sandbox's load) every
SCORE_EVERY_HOURS hours through the serving path (`scoring.services.score_patient`: audited, recorded for
monitoring), takes in their outcomes from the data set's labels (onset = first labelled hour + 6 h, as the
sandbox charts it), and runs the drift and performance monitors on them. Set B is the unseen hospital whose
recording differs (the card names HCO3, BaseExcess, chloride, EtCO2, troponin I, direct bilirubin), so the
drift run opens a finding.

The 200 stays are half septic (the sandbox's choice, so a new user finds septic patients), about 100 with an
onset in the stay: fewer than the 100 patients with the outcome the policy asks for by default. The demo
sets the sepsis monitor policy's minimum to DEMO_MIN_EVENTS, with that reason in its history, when no
policy exists yet. Being enriched with septic stays, the window also reads under-predicting: a case-mix
effect, not a fault of the version.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings

from config.keys import pseudonymize
from datasources.catalogue import DEMO_SET_B, SET_B, demo_patients
from scoring.features.physionet_fhir import row_time, stay_to_fhir
from scoring.models import DriftRun, MonitorPolicy, OutcomeImport, PerformanceRun
from scoring.monitoring.evaluation import performance_check
from scoring.monitoring.outcomes import OutcomeItem, outcomes_store, source_key
from scoring.monitoring.policy import monitor_policy_get, monitor_policy_update
from scoring.monitoring.services import drift_check, monitored_versions
from scoring.services import score_patient

SCORE_EVERY_HOURS = 6
DEMO_MIN_EVENTS = 50
DEMO_REASON = (
    "demo: the sandbox's 200 set-B stays hold about 100 septic ones; judged from 50 patients with the outcome "
    "for illustration (Collins et al., Stat Med 2016, recommend 100)"
)
LABEL_LEAD_HOURS = 6  # PhysioNet 2019: SepsisLabel is 1 from 6 h before onset
ACTOR = "manage.py monitoring_demo"


def stays_file(data_dir: Path) -> Path:
    """The demo's set-B subset, else the full set B (the sandbox loads from the same one)."""
    demo = data_dir / DEMO_SET_B
    return demo if demo.is_file() else data_dir / SET_B


def stays(path: Path, ids: list[str]) -> Iterator[tuple[str, pd.DataFrame]]:
    """(patient, hourly rows) of each stay in `ids` (file order)."""
    frame = pd.read_csv(path)
    frame = frame[frame["patient_id"].isin(ids)].sort_values(["patient_id", "hour"])
    yield from frame.groupby("patient_id", sort=True)


def _records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
        for r in rows.to_dict("records")
    ]


def stay_served(patient: str, rows: pd.DataFrame, anchor: datetime) -> tuple[int, OutcomeItem]:
    """Score the stay every SCORE_EVERY_HOURS hours (its last hour at `anchor`); its outcome record."""
    start = anchor - timedelta(hours=int(rows["hour"].max()))
    fhir_id = f"physionet-{patient}"
    resources = stay_to_fhir(fhir_id, _records(rows), start)
    hours = sorted({int(h) for h in rows["hour"] if int(h) % SCORE_EVERY_HOURS == 0} | {int(rows["hour"].max())})
    scored = sum(
        score_patient(model_name="sepsis", resources=resources, as_of=row_time(start, h), patient_id=fhir_id).scored
        for h in hours
    )
    return scored, _outcome(fhir_id, rows, start)


def _outcome(fhir_id: str, rows: pd.DataFrame, start: datetime) -> OutcomeItem:
    labelled = rows.loc[rows["SepsisLabel"] == 1, "hour"]
    last = int(rows["hour"].max())
    onset = int(labelled.min()) + LABEL_LEAD_HOURS if len(labelled) else None
    occurred = onset is not None and onset <= last
    at = row_time(start, onset if occurred and onset is not None else last)
    key = source_key("physionet2019 set B labels", fhir_id, str(occurred), at.isoformat())
    return OutcomeItem("sepsis", pseudonymize(fhir_id), occurred, at, key)


def monitoring_demo(data_dir: Path | None = None) -> tuple[DriftRun, PerformanceRun] | None:
    """Serve, label and check the demo stays; None when there is no active sepsis version."""
    versions = [mv for mv in monitored_versions("sepsis") if mv.status == "active"]
    if not versions:
        return None
    began = datetime.now(UTC)
    anchor = began.replace(minute=0, second=0, microsecond=0)
    outcomes = [
        stay_served(p, rows, anchor)[1]
        for p, rows in stays(stays_file(data_dir or Path(settings.SHARED_DATA)), demo_patients())
    ]
    outcomes_store(
        kind=OutcomeImport.Kind.FILE, source="PhysioNet 2019 set B labels (demo)", items=outcomes, actor=ACTOR
    )
    if not MonitorPolicy.objects.filter(model_name="sepsis").exists():
        policy = monitor_policy_get("sepsis")
        monitor_policy_update(policy=policy, changes={"min_events": DEMO_MIN_EVENTS}, actor=ACTOR, reason=DEMO_REASON)
    until = datetime.now(UTC) + timedelta(seconds=1)
    return (
        drift_check(versions[0], since=began, until=until, run_by=ACTOR),
        performance_check(versions[0], since=began, until=until, run_by=ACTOR),
    )
