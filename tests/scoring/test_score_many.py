"""`score_many_with_shadows` (population chunks) with shadow versions: each patient's results are those of
`score_with_shadows`; a shadow that fails, before or during the batch, is skipped and the served result stays."""

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scoring.models import ModelVersion
from scoring.services import score_many_with_shadows, score_with_shadows
from scoring.serving import registry
from tests.cds_hooks.conftest import models_installed, physionet_stay_resources  # noqa: F401 - fixture
from tests.cds_hooks.test_shadow import SHADOW_VERSION, sepsis_shadow  # noqa: F401 - fixture

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def _patients() -> list[tuple[str, list[dict[str, Any]]]]:
    out = []
    for septic in (True, False):
        resources = physionet_stay_resources(septic=septic)
        out.append((next(r["id"] for r in resources if r["resourceType"] == "Patient"), resources))
    return out


def _now() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def test_shadow_versions_in_a_batch_equal_one_patient_at_a_time(sepsis_shadow: ModelVersion) -> None:  # noqa: F811
    patients, as_of = _patients(), _now()
    batch = score_many_with_shadows(model_name="sepsis", patients=patients, as_of=as_of)
    for (pid, resources), results in zip(patients, batch, strict=True):
        assert [r.model_status for r in results] == ["active", "shadow"]
        assert results == score_with_shadows(
            model_name="sepsis", resources=resources, as_of=as_of, patient_id=pid, audit=False
        )


def test_a_shadow_without_its_artifact_is_skipped(sepsis_shadow: ModelVersion) -> None:  # noqa: F811
    registry.cache_clear()
    shutil.rmtree(Path(sepsis_shadow.artifact_path))
    batch = score_many_with_shadows(model_name="sepsis", patients=_patients(), as_of=_now())
    assert [[r.model_status for r in results] for results in batch] == [["active"], ["active"]]


def test_a_shadow_failing_in_its_batch_is_skipped(
    sepsis_shadow: ModelVersion,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = registry.LoadedModel.margin

    def onnx_fails_for_the_shadow(self: registry.LoadedModel, x: np.ndarray) -> Any:
        if self.version == SHADOW_VERSION:
            raise RuntimeError("onnxruntime failed")
        return real(self, x)

    monkeypatch.setattr(registry.LoadedModel, "margin", onnx_fails_for_the_shadow)
    batch = score_many_with_shadows(model_name="sepsis", patients=_patients(), as_of=_now())
    assert [[r.model_status for r in results] for results in batch] == [["active"], ["active"]]
    assert all(results[0].scored for results in batch)
    ModelVersion.objects.exclude(pk=sepsis_shadow.pk).filter(name="sepsis").update(status="retired")
    sepsis_shadow.status = ModelVersion.Status.ACTIVE  # a serving version's failure is not hidden
    sepsis_shadow.save(update_fields=["status"])
    with pytest.raises(RuntimeError):
        score_many_with_shadows(model_name="sepsis", patients=_patients(), as_of=_now())
