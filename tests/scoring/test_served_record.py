"""What is served is recorded for monitoring: every scored inference (any door), pseudonymised, with retention."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.test import override_settings
from django.utils import timezone

from audit.models import AuditRecord
from config.keys import pseudonymize
from scoring.features.extract import extract_features
from scoring.features.spec import SEPSIS_FEATURES
from scoring.models import ServedInference
from scoring.monitoring.record import served_purge
from scoring.services import score_for_hook, score_patient
from scoring.trend import score_trend
from tests.scoring.test_services import AS_OF

pytestmark = pytest.mark.django_db


def test_a_scored_inference_keeps_its_inputs_score_and_band_under_the_pseudonym(
    registered: Any, stay_resources: list[dict]
) -> None:
    result = score_patient(model_name="sepsis", resources=stay_resources, as_of=AS_OF, patient_id="p000009")
    row = ServedInference.objects.get()
    expected = extract_features(SEPSIS_FEATURES, stay_resources, AS_OF).values
    assert row.patient_pseudonym == pseudonymize("p000009") and "p000009" not in str(row.__dict__)
    assert (row.model_name, row.model_version, row.model_status) == ("sepsis", "0.0.1-test", "active")
    assert row.score == pytest.approx(result.probability) and row.band == result.band and row.as_of == AS_OF
    assert len(row.features) == len(SEPSIS_FEATURES)
    assert [v is None for v in row.features] == [bool(np.isnan(v)) for v in expected]
    assert all(v is None or v == pytest.approx(e, rel=1e-6) for v, e in zip(row.features, expected, strict=True))


def test_every_inference_of_a_hook_call_is_recorded_shadows_and_rules_too(
    registered: Any, stay_resources: list[dict]
) -> None:
    results = score_for_hook(hook="patient-view", resources=stay_resources, as_of=AS_OF, patient_id="p000009")
    scored = sorted((r.model_name, r.model_status) for r in results.inferences if r.scored)
    assert sorted(ServedInference.objects.values_list("model_name", "model_status")) == scored
    rules = ServedInference.objects.exclude(model_name="sepsis")
    assert all(row.features == [] for row in rules)


def test_refusals_and_unaudited_scoring_are_not_recorded(registered: Any, stay_resources: list[dict]) -> None:
    no_hr = [
        r
        for r in stay_resources
        if not (r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "8867-4")
    ]
    assert not score_patient(model_name="sepsis", resources=no_hr, as_of=AS_OF, patient_id="p000009").scored
    score_patient(model_name="sepsis", resources=stay_resources, as_of=AS_OF, patient_id="p000009", audit=False)
    assert not ServedInference.objects.exists()


def test_a_trend_records_only_what_is_served_now(registered: Any, stay_resources: list[dict]) -> None:
    times = [AS_OF - timedelta(hours=h) for h in (6, 4, 2)]
    trend = score_trend(hook="patient-view", resources=stay_resources, now=AS_OF, times=times, patient_id="p000009")
    assert ServedInference.objects.count() == sum(r.scored for r in trend.now.inferences)
    assert set(ServedInference.objects.values_list("as_of", flat=True)) == {AS_OF}


@override_settings(MONITORING_RETENTION_DAYS=30)
def test_purge_deletes_only_what_is_older_than_the_retention_and_audits_it(
    registered: Any, stay_resources: list[dict]
) -> None:
    score_patient(model_name="sepsis", resources=stay_resources, as_of=AS_OF, patient_id="p000009")
    score_patient(model_name="sepsis", resources=stay_resources, as_of=AS_OF, patient_id="p000010")
    old = ServedInference.objects.order_by("id").first()
    assert old is not None
    ServedInference.objects.filter(pk=old.pk).update(recorded_at=timezone.now() - timedelta(days=31))
    assert served_purge()["served_inferences"] == 1
    assert list(ServedInference.objects.values_list("patient_pseudonym", flat=True)) == [pseudonymize("p000010")]
    assert AuditRecord.objects.filter(action="monitor_purge").get().detail["served_inferences"] == 1
    assert served_purge()["served_inferences"] == 0 and AuditRecord.objects.filter(action="monitor_purge").count() == 1
