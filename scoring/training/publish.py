"""Write a trained model's artifacts: ONNX (verified, with metadata), booster JSON, model card JSON + Markdown."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from scoring.artifact import ARTIFACTS_DIR, BOOSTER_NAME, CARD_JSON, CARD_MD, ONNX_NAME, RELIABILITY_PNG
from scoring.training.card import card_markdown, external_metrics
from scoring.training.common import write_json
from scoring.training.export import export_onnx, sha256_file

__all__ = ["ARTIFACTS_DIR", "BOOSTER_NAME", "CARD_JSON", "CARD_MD", "ONNX_NAME", "RELIABILITY_PNG", "headline_metrics",
           "publish"]


def publish(card: dict[str, Any], out_dir: Path, version: str) -> dict[str, Any]:
    """Export everything under `out_dir` (created); returns the final card."""
    out_dir.mkdir(parents=True, exist_ok=True)
    booster = card.pop("_booster")
    check_rows = card.pop("_check_rows")
    card["version"] = version
    booster.save_model(str(out_dir / BOOSTER_NAME))
    card["booster_sha256"] = sha256_file(out_dir / BOOSTER_NAME)
    metadata = {
        "model_name": card["name"], "version": version, "title": card["title"],
        "spec_version": card["spec_version"], "features": card["features"], "thresholds": card["thresholds"],
        "calibration": card["calibration"], "training_data_sha256": card["training_data"]["sha256"],
        "metrics": headline_metrics(card), "horizon_hours": card.get("horizon_hours"),
        "booster_sha256": card["booster_sha256"],
    }
    card["sha256"] = export_onnx(booster, len(card["features"]), out_dir / ONNX_NAME, metadata, check_rows)
    card["artifacts"] = [ONNX_NAME, BOOSTER_NAME, CARD_JSON, CARD_MD] + (
        [RELIABILITY_PNG] if (out_dir / RELIABILITY_PNG).exists() else [])
    write_json(out_dir / CARD_JSON, card)
    (out_dir / CARD_MD).write_text(card_markdown(card))
    return card


def headline_metrics(card: dict[str, Any]) -> dict[str, Any]:
    """The external evaluation's headline figures (ONNX metadata, the training commands' summary)."""
    ext = external_metrics(card)[1]
    return {k: ext.get(k) for k in ("auroc", "auprc", "utility", "ece", "brier", "n_rows")}
