"""Load registered model artifacts: onnxruntime sessions (cached per process per (name, version)),
the XGBoost booster for exact TreeSHAP, and checks that the artifact matches its checksum and our spec."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from scoring.artifact import (
    BOOSTER_NAME,
    ONNX_NAME,
    Calibration,
    calibration_from,
    read_file_metadata,
    read_metadata,
    sha256_file,
)
from scoring.catalogue import definition
from scoring.features.spec import SPEC_VERSION, FeatureSpec
from scoring.serving.providers import providers

if TYPE_CHECKING:  # xgboost itself is imported lazily, inside the functions that run it
    import xgboost as xgb

_lock = threading.Lock()
_cache: dict[tuple[str, str, str], LoadedModel] = {}


class ArtifactProblem(Exception):
    """The artifact cannot serve: missing, checksum or spec mismatch."""


@dataclass(frozen=True)
class LoadedModel:
    """A ready-to-run model version."""

    name: str
    version: str
    sha256: str
    session: Any  # onnxruntime.InferenceSession
    input_name: str
    booster: xgb.Booster  # exact TreeSHAP
    features: tuple[FeatureSpec, ...]
    calibration: Calibration
    thresholds: dict[str, Any]
    metadata: dict[str, Any]

    @property
    def provider(self) -> str:
        """The execution provider the session runs on."""
        return str(self.session.get_providers()[0])

    def margin(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Model log-odds of rows `x` from ONNX (probability output turned back into log-odds)."""
        p = np.asarray(self.session.run(None, {self.input_name: x})[1], dtype=np.float64)[:, 1]
        p = np.clip(p, 1e-12, 1 - 1e-12)
        return np.log(p / (1 - p))


def model_features(name: str) -> tuple[FeatureSpec, ...]:
    """The catalogue's feature order of an ML model (empty for a name the catalogue does not know)."""
    found = definition(name)
    return found.features if found is not None else ()


def resolve_path(artifact_path: str) -> Path:
    """Artifact folders are absolute or relative to the project root."""
    from django.conf import settings

    path = Path(artifact_path)
    return path if path.is_absolute() else Path(settings.BASE_DIR) / path


def verify(name: str, folder: Path, sha256: str) -> None:
    """Raise ArtifactProblem unless the ONNX file exists and has the registered checksum."""
    onnx_path = folder / ONNX_NAME
    if not onnx_path.is_file() or not (folder / BOOSTER_NAME).is_file():
        raise ArtifactProblem(f"{name}: artifact files missing under {folder}")
    actual = sha256_file(onnx_path)
    if actual != sha256:
        raise ArtifactProblem(f"{name}: checksum mismatch (registered {sha256[:12]}, file {actual[:12]})")


def check_metadata(name: str, metadata: dict[str, Any]) -> None:
    """Raise ArtifactProblem unless the model was trained on this spec version and feature order."""
    if metadata.get("spec_version") != SPEC_VERSION:
        raise ArtifactProblem(
            f"{name}: trained on feature spec {metadata.get('spec_version')!r}, serving spec is {SPEC_VERSION!r}"
        )
    expected = [f.name for f in model_features(name)]
    if metadata.get("features") != expected:
        raise ArtifactProblem(f"{name}: feature order of the artifact differs from the serving spec")


def inspect(name: str, artifact_path: str, sha256: str) -> None:
    """Raise ArtifactProblem unless the artifact could serve (files, checksum, spec), without onnxruntime."""
    folder = resolve_path(artifact_path)
    verify(name, folder, sha256)
    check_metadata(name, read_file_metadata(folder / ONNX_NAME))


def load(name: str, version: str, artifact_path: str, sha256: str) -> LoadedModel:
    """The cached LoadedModel of (name, version); verified and built on first use."""
    key = (name, version, sha256)
    with _lock:
        if key in _cache:
            return _cache[key]
        model = _build(name, version, resolve_path(artifact_path), sha256)
        _cache[key] = model
        return model


def _build(name: str, version: str, folder: Path, sha256: str) -> LoadedModel:
    import onnxruntime as ort
    import xgboost as xgb

    verify(name, folder, sha256)
    data = (folder / ONNX_NAME).read_bytes()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(data, sess_options=options, providers=list(providers()))
    metadata = read_metadata(session)
    check_metadata(name, metadata)
    booster = xgb.Booster(model_file=str(folder / BOOSTER_NAME))
    booster.set_param({"nthread": 1})
    return LoadedModel(
        name,
        version,
        sha256,
        session,
        session.get_inputs()[0].name,
        booster,
        model_features(name),
        calibration_from(metadata["calibration"]),
        metadata["thresholds"],
        metadata,
    )


def cache_clear() -> None:
    """Forget loaded sessions (tests, after re-registration)."""
    with _lock:
        _cache.clear()
