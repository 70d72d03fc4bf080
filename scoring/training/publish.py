"""Write a trained model's artifacts: ONNX (verified, with metadata), booster JSON, model card JSON + Markdown,
and the card's figures (reliability diagram, global explanation)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from scoring.artifact import (
    ARTIFACTS_DIR,
    BOOSTER_NAME,
    CARD_JSON,
    CARD_MD,
    EXPLANATION_PNG,
    ONNX_NAME,
    RELIABILITY_PNG,
)
from scoring.card import (
    EXPLANATION_HEADING,
    INTENDED_USE_HEADING,
    card_markdown,
    explanation_markdown,
    external_metrics,
)
from scoring.training.common import write_json
from scoring.training.explain import explanation_write
from scoring.training.export import export_onnx, sha256_file
from scoring.training.profile import profile_write

__all__ = [
    "ARTIFACTS_DIR",
    "BOOSTER_NAME",
    "CARD_JSON",
    "CARD_MD",
    "ONNX_NAME",
    "RELIABILITY_PNG",
    "headline_metrics",
    "publish",
]


def publish(card: dict[str, Any], out_dir: Path, version: str) -> dict[str, Any]:
    """Export everything under `out_dir` (created); returns the final card."""
    out_dir.mkdir(parents=True, exist_ok=True)
    booster = card.pop("_booster")
    check_rows = card.pop("_check_rows")
    reference = (card.pop("_reference_rows"), card.pop("_reference_rows_from"))
    card["version"] = version
    booster.save_model(str(out_dir / BOOSTER_NAME))
    card["booster_sha256"] = sha256_file(out_dir / BOOSTER_NAME)
    metadata = {
        "model_name": card["name"],
        "version": version,
        "title": card["title"],
        "spec_version": card["spec_version"],
        "features": card["features"],
        "thresholds": card["thresholds"],
        "calibration": card["calibration"],
        "training_data_sha256": card["training_data"]["sha256"],
        "metrics": headline_metrics(card),
        "horizon_hours": card.get("horizon_hours"),
        "booster_sha256": card["booster_sha256"],
    }
    card["sha256"] = export_onnx(booster, len(card["features"]), out_dir / ONNX_NAME, metadata, check_rows)
    explanation_write(card, booster, check_rows, out_dir, external_metrics(card)[0])
    profile_write(card, booster, *reference)
    _card_write(card, out_dir)
    return card


def profile_add(folder: Path, rows: npt.NDArray[np.float32], rows_from: str) -> dict[str, Any]:
    """Give a published folder its reference profile (card JSON only); ONNX, booster and card.md untouched."""
    import xgboost as xgb

    card: dict[str, Any] = json.loads((folder / CARD_JSON).read_text())
    profile_write(card, xgb.Booster(model_file=str(folder / BOOSTER_NAME)), rows, rows_from)
    write_json(folder / CARD_JSON, card)
    return card


def explanation_add(folder: Path, rows: npt.NDArray[np.float32]) -> dict[str, Any]:
    """Give a published folder its global explanation (card JSON, card.md, figure); ONNX and booster untouched."""
    import xgboost as xgb

    card: dict[str, Any] = json.loads((folder / CARD_JSON).read_text())
    booster = xgb.Booster(model_file=str(folder / BOOSTER_NAME))
    explanation_write(card, booster, rows, folder, external_metrics(card)[0])
    _card_write(card, folder, markdown=_spliced(card, (folder / CARD_MD).read_text()))
    return card


def _spliced(card: dict[str, Any], markdown: str) -> str:
    """card.md as it was, with the explanation section (re)placed before "Intended use": no other line moves."""
    before, marker, after = markdown.partition(INTENDED_USE_HEADING)
    before = before.split(EXPLANATION_HEADING)[0]
    return before + "\n".join(explanation_markdown(card)) + marker + after


def _card_write(card: dict[str, Any], out_dir: Path, markdown: str | None = None) -> None:
    figures = [name for name in (RELIABILITY_PNG, EXPLANATION_PNG) if (out_dir / name).exists()]
    card["artifacts"] = [ONNX_NAME, BOOSTER_NAME, CARD_JSON, CARD_MD, *figures]
    write_json(out_dir / CARD_JSON, card)
    (out_dir / CARD_MD).write_text(card_markdown(card) if markdown is None else markdown)


def headline_metrics(card: dict[str, Any]) -> dict[str, Any]:
    """The external evaluation's headline figures (ONNX metadata, the training commands' summary)."""
    ext = external_metrics(card)[1]
    return {k: ext.get(k) for k in ("auroc", "auprc", "utility", "ece", "brier", "n_rows")}
