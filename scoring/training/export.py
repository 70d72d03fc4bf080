"""ONNX export with metadata, verified against XGBoost (refuses to write a model that disagrees > 1e-5)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from scoring.artifact import META_PREFIX, read_metadata, sha256_file

__all__ = ["ExportMismatch", "export_onnx", "onnx_probabilities", "read_metadata", "sha256_file"]

TARGET_OPSET = 15  # onnxmltools 1.16 converts XGBoost boosters up to opset 15 (17 fails)
TOLERANCE = 1e-5


class ExportMismatch(RuntimeError):
    """ONNX and XGBoost probabilities differ by more than TOLERANCE."""


def onnx_probabilities(model_bytes: bytes, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Positive-class probability of rows `x` under an ONNX XGBoost classifier (CPU)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})
    return np.asarray(out[1], dtype=np.float64)[:, 1]


def export_onnx(
    booster: Any, n_features: int, path: Path, metadata: Mapping[str, Any], check_rows: npt.NDArray[np.float32]
) -> str:
    """Convert, attach metadata, verify on `check_rows`, write `path`; returns the file's sha256."""
    import onnx
    import onnxmltools
    import xgboost as xgb
    from onnxmltools.convert.common.data_types import FloatTensorType

    model = onnxmltools.convert_xgboost(
        booster, initial_types=[("input", FloatTensorType([None, n_features]))], target_opset=TARGET_OPSET
    )
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key = META_PREFIX + key
        entry.value = json.dumps(value, sort_keys=True)  # every value JSON, so "2025.1" stays a string
    data = model.SerializeToString()
    expected = booster.predict(xgb.DMatrix(check_rows), output_margin=False)
    got = onnx_probabilities(data, check_rows)
    worst = float(np.max(np.abs(got - expected))) if len(got) else 0.0
    if not worst <= TOLERANCE:
        raise ExportMismatch(f"ONNX and XGBoost disagree by {worst:.3g} (> {TOLERANCE}); not exported")
    onnx.checker.check_model(model)
    path.write_bytes(data)
    return sha256_file(path)
