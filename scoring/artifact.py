"""The model artifact format: file names, checksum, ONNX metadata and calibration, read by serving, admin and
views and written by training (so none of them needs the training code).

An artifact folder `scoring/artifacts/<name>/<version>/` holds `model.onnx` (with our metadata under the
`stratify.` prefix: feature order, spec version, thresholds, calibration), `booster.json` (exact TreeSHAP),
`card.json` and `card.md` (the model card) and figures. The ONNX file's sha256 is its registered identity.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"  # shipped versions: NAME/VERSION/
ONNX_NAME = "model.onnx"
BOOSTER_NAME = "booster.json"
CARD_JSON = "card.json"
CARD_MD = "card.md"
RELIABILITY_PNG = "reliability.png"
EXPLANATION_PNG = "explanation.png"  # global explanation (mean |SHAP| per feature), drawn at training
META_PREFIX = "stratify."


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_metadata(model_bytes_or_session: Any) -> dict[str, Any]:
    """Our metadata from an onnxruntime session (JSON values decoded)."""
    return _decoded(model_bytes_or_session.get_modelmeta().custom_metadata_map)


def read_file_metadata(onnx_path: Path) -> dict[str, Any]:
    """The same metadata read from the ONNX file with the `onnx` package (protobuf only, no runtime).

    Startup checks use it: a process that forks (gunicorn's master, Celery's) must not import onnxruntime,
    whose forked children then hang at exit (measured with onnxruntime-gpu 1.31.1).
    """
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    return _decoded({prop.key: prop.value for prop in model.metadata_props})


def _decoded(raw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key.startswith(META_PREFIX):
            name = key[len(META_PREFIX) :]
            try:
                out[name] = json.loads(value)
            except ValueError:
                out[name] = value
    return out


@dataclass(frozen=True, slots=True)
class Platt:
    """Calibration parameters stored with the model (ONNX metadata and model card): p = sigmoid(a * margin + b)."""

    a: float
    b: float

    def apply(self, margin: float) -> float:
        """Calibrated probability of one margin."""
        z = self.a * margin + self.b
        return 1.0 / (1.0 + math.exp(-z)) if z >= -700 else 0.0

    def apply_array(self, margin: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Calibrated probabilities of many margins."""
        return 1.0 / (1.0 + np.exp(-(self.a * margin + self.b)))

    def stored(self) -> dict[str, Any]:
        """The form kept in the card and the ONNX metadata."""
        return {"method": "platt", "a": self.a, "b": self.b}

    def text(self) -> str:
        """One line for the model card."""
        return f"platt (a={self.a:.4f}, b={self.b:.4f})"


@dataclass(frozen=True, slots=True)
class Isotonic:
    """Isotonic calibration of the margin (Zadrozny B, Elkan C. Transforming classifier scores into accurate
    multiclass probability estimates. KDD 2002): the fitted step function's knots, read as sklearn's
    IsotonicRegression predicts them (linear between knots, flat beyond the ends)."""

    margins: tuple[float, ...]
    probabilities: tuple[float, ...]

    def apply(self, margin: float) -> float:
        """Calibrated probability of one margin."""
        return float(np.interp(margin, self.margins, self.probabilities))

    def apply_array(self, margin: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Calibrated probabilities of many margins."""
        return np.asarray(np.interp(margin, self.margins, self.probabilities), dtype=np.float64)

    def stored(self) -> dict[str, Any]:
        """The form kept in the card and the ONNX metadata."""
        return {"method": "isotonic", "margins": list(self.margins), "probabilities": list(self.probabilities)}

    def text(self) -> str:
        """One line for the model card."""
        low, high = self.probabilities[0], self.probabilities[-1]
        return f"isotonic ({len(self.margins)} knots, probability {low:.4f} to {high:.4f})"


Calibration = Platt | Isotonic


def calibration_from(stored: dict[str, Any]) -> Calibration:
    """The calibration a card or ONNX metadata stores (Platt when no method is named: the first versions')."""
    method = stored.get("method", "platt")
    if method == "platt":
        return Platt(float(stored["a"]), float(stored["b"]))
    if method == "isotonic":
        return Isotonic(tuple(float(v) for v in stored["margins"]), tuple(float(v) for v in stored["probabilities"]))
    raise ValueError(f"unknown calibration method {method!r}")
