"""score_patient / score_for_hook against a registered tiny model: scores, drivers, refusals, errors, audit."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest

from scoring.errors import ModelNotFound, ModelNotReady
from scoring.features.extract import extract_features
from scoring.features.physionet_fhir import row_time
from scoring.features.spec import SEPSIS_FEATURES
from scoring.services import score_for_hook, score_patient
from tests.scoring.conftest import START, deep

AS_OF = row_time(START, 30)


@pytest.mark.django_db
class ScorePatientTests:
    def test_scores_with_calibrated_probability_and_exact_drivers(
        self, registered: Any, stay_resources: list[dict]
    ) -> None:
        import xgboost as xgb

        from scoring.serving.registry import load

        result = score_patient(model_name="sepsis", resources=stay_resources, as_of=AS_OF, patient_id="p000009")
        assert result.scored and result.kind == "ml" and result.model_version == "0.0.1-test"
        assert result.provider == "CPUExecutionProvider"
        model = load("sepsis", registered.version, registered.artifact_path, registered.sha256)
        x = np.asarray([extract_features(SEPSIS_FEATURES, stay_resources, AS_OF).values], dtype=np.float32)
        margin = float(model.booster.predict(xgb.DMatrix(x), output_margin=True)[0])
        assert result.margin == pytest.approx(margin, abs=1e-4)
        assert result.probability == pytest.approx(model.calibration.apply(margin), abs=1e-5)
        assert result.band in ("low", "moderate", "high") and result.indicator in ("info", "warning", "critical")
        assert result.drivers and all(d.text.endswith(("raises risk", "lowers risk")) for d in result.drivers)
        assert result.basis and result.data_times and len(result.input_digest) == 64

    def test_refuses_when_required_vital_missing(self, registered: Any, stay_resources: list[dict]) -> None:
        no_hr = [
            r
            for r in stay_resources
            if not (r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "8867-4")
        ]
        result = score_patient(model_name="sepsis", resources=no_hr, as_of=AS_OF, patient_id="p000009")
        assert not result.scored and result.probability is None and result.band is None
        assert result.missing == ("Heart rate",)
        assert any("Heart rate" in r for r in result.reasons)

    def test_refuses_when_required_vital_stale(self, registered: Any, stay_resources: list[dict]) -> None:
        last = max(datetime.fromisoformat(r["effectiveDateTime"]) for r in stay_resources if "effectiveDateTime" in r)
        later = last + timedelta(hours=13)  # every vital is then > 12 h old
        result = score_patient(model_name="sepsis", resources=stay_resources, as_of=later, patient_id="p000009")
        assert not result.scored
        assert "Heart rate" in result.stale and not result.missing

    def test_a_deceased_patient_is_not_scored(self, registered: Any, stay_resources: list[dict]) -> None:
        def with_patient(**death: Any) -> list[dict]:
            return [{**r, **death} if r["resourceType"] == "Patient" else r for r in stay_resources]

        died = (AS_OF - timedelta(hours=1)).isoformat()
        result = score_patient(
            model_name="sepsis", resources=with_patient(deceasedDateTime=died), as_of=AS_OF, patient_id="p000009"
        )
        assert not result.scored and result.probability is None and not result.drivers
        assert result.reasons == (f"Patient deceased {died[:10]}: risk scores are only for living patients.",)
        assert result.summary.endswith("risk scores are only for living patients.")
        later = (AS_OF + timedelta(hours=1)).isoformat()  # died after as-of: alive then, scored
        assert score_patient(
            model_name="sepsis", resources=with_patient(deceasedDateTime=later), as_of=AS_OF, patient_id="p000009"
        ).scored
        news2 = score_patient(
            model_name="news2", resources=with_patient(deceasedBoolean=True), as_of=AS_OF, patient_id="p000009"
        )
        assert not news2.scored and "deceased" in news2.reasons[0]

    def test_unknown_model_is_404(self, registered: Any) -> None:
        with pytest.raises(ModelNotFound):
            score_patient(model_name="nope", resources=[], as_of=AS_OF, patient_id="p")

    def test_checksum_mismatch_is_503(self, registered: Any, stay_resources: list[dict]) -> None:
        from scoring.serving.registry import cache_clear

        registered.sha256 = "0" * 64
        registered.save()
        cache_clear()
        with pytest.raises(ModelNotReady) as err:
            score_patient(model_name="sepsis", resources=stay_resources, as_of=AS_OF, patient_id="p000009")
        assert err.value.status_code == 503 and "checksum" in err.value.message

    def test_every_score_is_audited(self, registered: Any, stay_resources: list[dict]) -> None:
        from audit.models import AuditRecord

        before = AuditRecord.objects.filter(action="score").count()
        score_patient(model_name="sepsis", resources=stay_resources, as_of=AS_OF, patient_id="p000009")
        record = AuditRecord.objects.filter(action="score").order_by("-id").first()
        assert AuditRecord.objects.filter(action="score").count() == before + 1
        assert record is not None
        assert record.model_name == "sepsis" and record.model_version == "0.0.1-test" and record.input_digest

    def test_naive_as_of_is_400(self, registered: Any) -> None:
        from config.errors import ValidationFailed

        with pytest.raises(ValidationFailed):
            score_patient(model_name="news2", resources=[], as_of=AS_OF.replace(tzinfo=None), patient_id="p")


@pytest.mark.django_db
class ScoreForHookTests:
    def test_patient_view_scores_every_bound_model_including_shadow(
        self, registered: Any, tiny_artifacts: Any, stay_resources: list[dict]
    ) -> None:
        from scoring.models import ModelVersion

        shadow = ModelVersion.objects.get(pk=registered.pk)
        shadow.pk = None
        shadow.version = "0.0.2-shadow"
        shadow.status = "shadow"
        shadow.save()
        from scoring.models import ThresholdPolicy

        ThresholdPolicy.objects.create(model_version=shadow, moderate_at=0.05, high_at=0.2, source="test")
        results = score_for_hook(hook="patient-view", resources=stay_resources, as_of=AS_OF, patient_id="p000009")
        names = [(r.model_name, r.model_status) for r in results.inferences]
        assert names == [("sepsis", "active"), ("sepsis", "shadow"), ("news2", "active"), ("qsofa", "active")]

    def test_rule_scores_come_with_point_drivers(self, registered: Any, stay_resources: list[dict]) -> None:
        results = {
            r.model_name: r
            for r in score_for_hook(
                hook="patient-view", resources=stay_resources, as_of=AS_OF, patient_id="p000009"
            ).visible
        }
        news2 = results["news2"]
        assert news2.kind == "rule" and news2.provider == "rule"
        if news2.scored:
            assert news2.points == sum(d.contribution for d in news2.drivers)
            assert any("lower bound" in r or "not recorded" in r for r in news2.reasons)
        else:
            assert news2.missing or news2.stale

    def test_encounter_discharge_has_no_sepsis(self, registered: Any) -> None:
        assert score_for_hook(hook="encounter-discharge", resources=[], as_of=AS_OF, patient_id="p").inferences == []


def test_extraction_ignores_unknown_units(stay_resources: list[dict]) -> None:
    changed = deep(stay_resources)
    for r in changed:
        if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "8310-5":
            r["valueQuantity"]["code"] = "[degF]"
            r["valueQuantity"]["value"] = r["valueQuantity"]["value"] * 9 / 5 + 32
    base = extract_features(SEPSIS_FEATURES, stay_resources, AS_OF)
    converted = extract_features(SEPSIS_FEATURES, changed, AS_OF)
    np.testing.assert_allclose(base.values, converted.values, rtol=0, atol=1e-9)
    for r in changed:
        if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "8310-5":
            r["valueQuantity"]["code"] = "furlongs"
    odd = extract_features(SEPSIS_FEATURES, changed, AS_OF)
    assert np.isnan(odd.values[[f.name for f in SEPSIS_FEATURES].index("Temp_last")])
    assert any("Temp" in n for n in odd.notes)
