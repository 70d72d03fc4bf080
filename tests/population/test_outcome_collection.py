"""Outcomes collected from the sandbox EHR over FHIR (Backend Services, live server): sepsis onsets from the
Conditions the sandbox charts for its septic PhysioNet stays, stored under the pseudonyms the served-inference
store uses, and linked to the scores served for those patients; readmissions from inpatient Encounters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from config.keys import pseudonymize
from population.tasks import outcomes_collect
from scoring.models import ModelVersion, Outcome, OutcomeImport, ServedInference
from scoring.monitoring.evaluation import Window
from scoring.monitoring.outcomes_fhir import fhir_outcomes

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _septic_stays() -> dict[str, int]:
    """The first-labelled ICULOS of each septic stay of the 4 the fixture loads (the data set's own labels)."""
    import pandas as pd

    frame = pd.read_csv(
        Path(str(settings.SHARED_DATA)) / "physionet2019" / "physionet2019_training_setA.csv.gz", nrows=20_000
    )
    labelled = frame[frame["SepsisLabel"] == 1].groupby("patient_id")["ICULOS"].min()
    return {f"physionet-{p}": int(h) for p, h in labelled.items()}


def test_sepsis_onsets_are_collected_stored_by_pseudonym_and_label_the_served_scores(ehr: dict[str, Any]) -> None:
    out = StringIO()
    call_command("collect_outcomes", "--iss", ehr["iss"], "--model", "sepsis", "--since", "30d", stdout=out)
    onsets = Outcome.objects.filter(model_name="sepsis", occurred=True)
    septic = _septic_stays()
    loaded = {p for p in septic if pseudonymize(p) in set(onsets.values_list("patient_pseudonym", flat=True))}
    assert len(loaded) == 2 and onsets.count() == 2  # the fixture's 2 septic stays, each charted once
    follow_ups = Outcome.objects.filter(model_name="sepsis", occurred=False)
    assert follow_ups.count() >= 4 and "new" in out.getvalue()
    call_command("collect_outcomes", "--iss", ehr["iss"], "--model", "sepsis", stdout=StringIO())
    assert Outcome.objects.filter(model_name="sepsis").count() == 2 + follow_ups.count()  # nothing twice
    assert OutcomeImport.objects.filter(kind="fhir", source=ehr["iss"]).count() == 2

    patient = sorted(loaded)[0]
    onset = onsets.get(patient_pseudonym=pseudonymize(patient)).at
    mv = ModelVersion.objects.get(name="sepsis")
    for hours_before in (8, 3):
        ServedInference.objects.create(
            recorded_at=onset, model_name="sepsis", model_version=mv.version, model_status="active",
            patient_pseudonym=pseudonymize(patient), as_of=onset - timedelta(hours=hours_before), score=0.1,
            band="low", features=[None] * len(mv.card["features"]),
        )  # fmt: skip
    window = Window(mv, onset - timedelta(hours=1), onset + timedelta(hours=1))
    assert sorted(window.labels.tolist()) == [0, 1]  # 8 h before onset: 0; 3 h before (within 6 h): 1


def test_the_daily_task_collects_every_model_and_refusals_are_clear(ehr: dict[str, Any]) -> None:
    result = outcomes_collect.apply().get()
    assert result["batches"] == 2 and result["created"] > 0  # sepsis and readmission from the one EHR
    assert Outcome.objects.filter(model_name="readmission", occurred=False).exists()
    with pytest.raises(CommandError, match="No EHR is registered"):
        call_command("collect_outcomes", "--iss", "https://nowhere.example/fhir")
    with pytest.raises(CommandError, match="rule score"):
        call_command("collect_outcomes", "--iss", ehr["iss"], "--model", "news2")


def _stay(patient: str, eid: str, start: str, end: str | None, code: str = "IMP") -> dict[str, Any]:
    period = {"start": start, **({"end": end} if end else {})}
    return {
        "resourceType": "Encounter",
        "id": eid,
        "class": {"code": code},
        "subject": {"reference": f"Patient/{patient}"},
        "period": period,
    }


def test_readmissions_are_later_inpatient_stays_after_a_discharge() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    encounters = [
        _stay("a", "1", "2026-01-01T00:00:00Z", "2026-01-05T00:00:00Z"),
        _stay("a", "2", "2026-01-20T00:00:00Z", "2026-01-22T00:00:00Z"),  # 15 days after discharge
        _stay("a", "3", "2026-01-21T00:00:00Z", None, code="AMB"),  # not inpatient
        _stay("b", "4", "2026-02-01T00:00:00Z", None),  # in progress, first stay
    ]
    items = fhir_outcomes("readmission", "https://ehr", {"Encounter": encounters}, now)
    occurred = [(i.pseudonym, i.at.isoformat()) for i in items if i.occurred]
    assert occurred == [(pseudonymize("a"), "2026-01-20T00:00:00+00:00")]
    assert sorted(i.pseudonym for i in items if not i.occurred) == sorted([pseudonymize("a"), pseudonymize("b")])
    sepsis_code = {"coding": [{"system": "http://snomed.info/sct", "code": "91302008"}]}
    onset = {"onsetDateTime": "2026-01-02T00:00:00Z"}
    conditions = [
        {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/a"}, "code": sepsis_code, **onset},
        {
            "resourceType": "Condition",
            "id": "c2",
            "subject": {"reference": "Patient/b"},
            "code": sepsis_code,
            "verificationStatus": {"coding": [{"code": "refuted"}]},
            **onset,
        },
        {"resourceType": "Condition", "id": "c3", "subject": {"reference": "Patient/b"}, "code": sepsis_code},
    ]
    sepsis = fhir_outcomes("sepsis", "https://ehr", {"Condition": conditions, "Encounter": encounters}, now)
    assert [(i.pseudonym, i.occurred) for i in sepsis if i.occurred] == [(pseudonymize("a"), True)]
    assert {i.at for i in sepsis if not i.occurred} == {
        datetime(2026, 1, 5, tzinfo=UTC),
        datetime(2026, 1, 22, tzinfo=UTC),
        now,
    }
