"""ONNX export: metadata, the 1e-5 agreement gate, and exact TreeSHAP that sums to the margin."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scoring.features.spec import SEPSIS_FEATURES, SPEC_VERSION
from scoring.training import export
from tests.scoring.conftest import tiny_card


def test_metadata_is_written(tiny_artifacts: Path) -> None:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(tiny_artifacts / "model.onnx"), providers=["CPUExecutionProvider"])
    meta = export.read_metadata(sess)
    assert meta["spec_version"] == SPEC_VERSION
    assert meta["features"] == [f.name for f in SEPSIS_FEATURES]
    assert set(meta["thresholds"]) >= {"moderate", "high"} and set(meta["calibration"]) >= {"a", "b"}
    assert meta["training_data_sha256"] and "auroc" in meta["metrics"]
    card = json.loads((tiny_artifacts / "card.json").read_text())
    assert card["sha256"] == export.sha256_file(tiny_artifacts / "model.onnx")
    assert (tiny_artifacts / "card.md").read_text().startswith("# Model card")


def test_export_refuses_disagreement(
    tmp_path: Path, sample_frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scoring.training.publish import publish

    real = export.onnx_probabilities
    monkeypatch.setattr(export, "onnx_probabilities", lambda data, x: real(data, x) + 2e-5)
    with pytest.raises(export.ExportMismatch):
        publish(tiny_card(sample_frame), tmp_path / "bad", "bad")
    assert not (tmp_path / "bad" / "model.onnx").exists()


def test_shap_contributions_sum_to_margin(tiny_artifacts: Path, sample_frame: pd.DataFrame) -> None:
    import xgboost as xgb

    from scoring.features.hourly import hourly_features
    from scoring.serving.explain import contributions

    booster = xgb.Booster(model_file=str(tiny_artifacts / "booster.json"))
    x = hourly_features(sample_frame, SEPSIS_FEATURES, dtype=np.float32)
    contribs = contributions(booster, x)
    margin = booster.predict(xgb.DMatrix(x), output_margin=True)
    np.testing.assert_allclose(contribs.sum(axis=1), margin, rtol=0, atol=1e-4)
    assert contribs.shape == (len(x), len(SEPSIS_FEATURES) + 1)
