"""`train_model` end to end on the shared data (a few hundred patients): artifacts, card, registry, report, scoring."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import onnxruntime as ort
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from scoring.features.physionet_fhir import row_time
from scoring.features.spec import READMISSION_FEATURES, SEPSIS_FEATURES, SPEC_VERSION
from scoring.models import ModelVersion
from scoring.services import score_patient
from scoring.services_registry import model_status_set
from scoring.serving.registry import cache_clear
from scoring.training.export import read_metadata, sha256_file
from tests.scoring.conftest import START

ARTIFACTS = ("model.onnx", "booster.json", "card.json", "card.md", "reliability.png", "explanation.png")
REPORT_KEYS = ("external_auroc", "external_auprc", "ece", "brier", "n_train", "n_external", "sha256", "spec_version")


def _train(name: str, out: Path, limit: int) -> dict[str, Any]:
    stdout = io.StringIO()
    call_command(
        "train_model",
        name,
        "--limit-patients",
        str(limit),
        "--out",
        str(out),
        "--model-version",
        "0.0.1-smoke",
        "--register",
        stdout=stdout,
    )
    assert "external auroc" in stdout.getvalue()
    assert all((out / f).is_file() for f in ARTIFACTS)
    card: dict[str, Any] = json.loads((out / "card.json").read_text())
    assert card["sha256"] == sha256_file(out / "model.onnx") and card["spec_version"] == SPEC_VERSION
    return card


def _activate_and_report(name: str) -> dict[str, Any]:
    mv = ModelVersion.objects.get(name=name, version="0.0.1-smoke")
    assert mv.status == "shadow"  # --register never puts a new version in front of clinicians
    model_status_set(mv=mv, status="active", actor="test", reason="smoke")
    stdout = io.StringIO()
    call_command("model_report", name, "--json", stdout=stdout)
    report: dict[str, Any] = json.loads(stdout.getvalue())
    assert report["version"] == "0.0.1-smoke" and all(report[k] is not None for k in REPORT_KEYS)
    return report


@pytest.mark.django_db
class TrainModelTests:
    def test_sepsis_trains_on_set_a_evaluates_on_set_b_and_serves(
        self, tmp_path: Path, stay_resources: list[dict]
    ) -> None:
        card = _train("sepsis", tmp_path / "sepsis", 300)
        b, a = card["metrics"]["external_set_b"], card["metrics"]["internal_set_a_heldout"]
        assert 0.5 < b["auroc"] < 1 and b["utility"] is not None and 0 <= b["ece"] < 0.2
        assert set(b["subgroups"]) == {"female", "male", "age <45", "age 45-64", "age 65-79", "age 80+"}
        assert set(b["baselines"]) == {"news2", "qsofa"} and a["n_patients"] > 0
        assert sum(r["n"] for r in b["reliability"]) == b["n_rows"]
        assert all(0 <= r["observed"] <= 1 and r["lower"] <= r["predicted"] <= r["upper"] for r in b["reliability"])
        assert "## Calibration by probability bin" in (tmp_path / "sepsis" / "card.md").read_text()
        assert 0 < card["thresholds"]["moderate"] <= card["thresholds"]["high"] < 1
        meta = read_metadata(
            ort.InferenceSession(str(tmp_path / "sepsis" / "model.onnx"), providers=["CPUExecutionProvider"])
        )
        assert meta["features"] == [f.name for f in SEPSIS_FEATURES] and meta["thresholds"] == card["thresholds"]
        report = _activate_and_report("sepsis")
        assert report["external_set"] == "external_set_b" and report["external_utility"] is not None
        cache_clear()
        try:
            result = score_patient(
                model_name="sepsis", resources=stay_resources, as_of=row_time(START, 30), patient_id="p000009"
            )
        finally:
            cache_clear()
        assert result.scored and result.model_version == "0.0.1-smoke" and result.drivers
        assert result.model_sha256 == card["sha256"] and result.probability is not None

    def test_readmission_trains_with_a_patient_level_split(self, tmp_path: Path) -> None:
        card = _train("readmission", tmp_path / "readmission", 3000)
        held = card["metrics"]["external_heldout_patients"]
        assert 0.5 < held["auroc"] < 1 and held["n_patients"] > 0
        assert card["features"] == [f.name for f in READMISSION_FEATURES]
        assert "no patient on two sides" in card["training_data"]["split"]
        assert _activate_and_report("readmission")["external_set"] == "external_heldout_patients"

    def test_an_unknown_model_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(CommandError, match="invalid choice"):
            call_command("train_model", "stroke", "--out", str(tmp_path))
        assert not any(tmp_path.iterdir())
