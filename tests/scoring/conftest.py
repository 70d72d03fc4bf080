"""Scoring fixtures: a tiny XGBoost sepsis model trained on the 20-patient sample and exported to tmp_path."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from django.conf import settings

from scoring.features.hourly import hourly_features
from scoring.features.physionet_fhir import stay_to_fhir
from scoring.features.spec import SEPSIS_FEATURES, SPEC_VERSION

if TYPE_CHECKING:
    from scoring.monitoring.outcomes import OutcomeItem

START = datetime(2021, 3, 1, 6, 0, tzinfo=UTC)
SAMPLE = "physionet2019/physionet2019_sample_20patients.csv"
SITE_STAYS = 2000  # set-B stays the adaptation tests take as a site


@pytest.fixture(scope="session")
def sample_frame() -> pd.DataFrame:
    """The 20-patient PhysioNet sample (real data), sorted by patient and hour."""
    frame = pd.read_csv(Path(str(settings.SHARED_DATA)) / SAMPLE)
    return frame.sort_values(["patient_id", "hour"]).reset_index(drop=True)


def tiny_card(frame: pd.DataFrame, *, spec_version: str = SPEC_VERSION) -> dict[str, Any]:
    """Train 20 shallow trees on the sample and build a card payload like the real trainer's."""
    import xgboost as xgb

    from scoring.training.calibration import platt_fit

    x = hourly_features(frame, SEPSIS_FEATURES, dtype=np.float32)
    y = frame["SepsisLabel"].to_numpy()
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "nthread": 1, "seed": 1},
        xgb.DMatrix(x, label=y),
        num_boost_round=20,
    )
    margin = booster.predict(xgb.DMatrix(x), output_margin=True).astype(np.float64)
    platt = platt_fit(margin, y)
    external = {"auroc": 0.5, "auprc": 0.1, "utility": 0.0, "ece": 0.0, "brier": 0.1, "n_rows": len(y)}
    return {
        "name": "sepsis",
        "title": "Sepsis risk",
        "kind": "ml",
        "spec_version": spec_version,
        "features": [f.name for f in SEPSIS_FEATURES],
        "horizon_hours": 6,
        "created_at": "2021-03-01T00:00:00",
        "trees": 20,
        "calibration": {"method": "platt", "a": platt.a, "b": platt.b},
        "thresholds": {"moderate": 0.05, "high": 0.2, "criterion": "test fixture"},
        "training_data": {"files": [SAMPLE], "sha256": {"sample": "test"}, "split": "test fixture"},
        "n_train": len(y),
        "metrics": {"external_test": external},
        "_booster": booster,
        "_check_rows": x[:200],
        "_reference_rows": x,
        "_reference_rows_from": "test fixture sample",
    }


@pytest.fixture(scope="session")
def set_b() -> pd.DataFrame:
    """The first SITE_STAYS stays of PhysioNet set B (real data)."""
    from scoring.training.data import PHYSIONET_SET

    frame = pd.read_csv(Path(str(settings.SHARED_DATA)) / PHYSIONET_SET.format("B"), dtype={"patient_id": "str"})
    return frame[frame["patient_id"].isin(frame["patient_id"].drop_duplicates().iloc[:SITE_STAYS])]


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory, sample_frame: pd.DataFrame) -> Path:
    """A small sepsis version whose training set is the 20-stay sample (so refit pools it, quickly)."""
    from scoring.artifact import sha256_file
    from scoring.training.publish import publish

    card = tiny_card(sample_frame)
    sample = Path(str(settings.SHARED_DATA)) / SAMPLE
    card["training_data"] = {"files": [SAMPLE], "sha256": {"A": sha256_file(sample)}, "split": "test fixture"}
    card["version"] = "0.0.1-base"
    out = tmp_path_factory.mktemp("base") / "sepsis" / "0.0.1-base"
    publish(card, out, "0.0.1-base")
    return out


def adapt_command(*args: str) -> str:
    """`manage.py adapt_model sepsis ARGS --threads 1`'s output."""
    import io

    from django.core.management import call_command

    stdout = io.StringIO()
    call_command("adapt_model", "sepsis", *args, "--threads", "1", stdout=stdout)
    return stdout.getvalue()


@pytest.fixture(scope="session")
def tiny_artifacts(tmp_path_factory: pytest.TempPathFactory, sample_frame: pd.DataFrame) -> Path:
    """Artifact folder (ONNX + booster + card) of the tiny model, outside the source tree."""
    from scoring.training.publish import publish

    out = tmp_path_factory.mktemp("models") / "sepsis" / "0.0.1-test"
    publish(tiny_card(sample_frame), out, "0.0.1-test")
    return out


@pytest.fixture
def registered(db: Any, tiny_artifacts: Path) -> Any:
    """The tiny sepsis model active, plus NEWS2 and qSOFA."""
    from scoring.services_registry import model_register, rule_register
    from scoring.serving.registry import cache_clear

    cache_clear()
    mv = model_register(artifact_dir=str(tiny_artifacts), registered_by="test", status="active")
    rule_register(name="news2", registered_by="test")
    rule_register(name="qsofa", registered_by="test")
    yield mv
    cache_clear()


@pytest.fixture
def stay_resources(sample_frame: pd.DataFrame) -> list[dict[str, Any]]:
    """FHIR JSON of sample patient p000009 (septic), all hours."""
    stay = sample_frame[sample_frame["patient_id"] == "p000009"].reset_index(drop=True)
    return stay_to_fhir("p000009", stay.to_dict("records"), START)


def deep(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A deep copy to mutate."""
    return copy.deepcopy(resources)


def serve_rows(
    rows: np.ndarray,
    version: str,
    scores: np.ndarray,
    *,
    patients: list[str] | None = None,
    times: list[datetime] | None = None,
) -> None:
    """Served inferences as the recorder writes them (inputs in the card's order, NaN as null); one patient
    scored now unless each row's pseudonym and as-of time are given."""
    from django.utils import timezone

    from scoring.models import ServedInference

    now = timezone.now()
    ServedInference.objects.bulk_create(
        [
            ServedInference(
                recorded_at=now,
                model_name="sepsis",
                model_version=version,
                model_status="active",
                patient_pseudonym=patients[i] if patients else "0" * 64,
                as_of=times[i] if times else now,
                score=float(s),
                band="low",
                features=[None if np.isnan(v) else float(v) for v in row],
            )
            for i, (row, s) in enumerate(zip(rows, scores, strict=True))
        ],
        batch_size=2000,
    )


def stay_outcomes(frame: pd.DataFrame, start: datetime, *, mix_up: bool = False) -> list[OutcomeItem]:
    """Each stay's outcome from the data set's label (onset = first labelled hour + 6 h, PhysioNet labelling 6 h
    ahead; else followed to the stay's end), hour 0 at `start`, under `pseudonymize("physionet-<id>")`;
    `mix_up`: each stay's outcome filed under the next stay's patient."""
    from config.keys import pseudonymize
    from scoring.monitoring.outcomes import OutcomeItem, source_key

    items = []
    patients = list(dict.fromkeys(frame["patient_id"]))
    for k, (patient, rows) in enumerate(frame.groupby("patient_id", sort=False)):
        labelled = rows.loc[rows["SepsisLabel"] == 1, "hour"]
        hour = int(labelled.min()) + 6 if len(labelled) else int(rows["hour"].max())
        owner = patients[(k + 1) % len(patients)] if mix_up else patient
        pseudonym = pseudonymize(f"physionet-{owner}")
        at = start + timedelta(hours=hour)
        items.append(OutcomeItem("sepsis", pseudonym, bool(len(labelled)), at, source_key(pseudonym, at.isoformat())))
    return items


@pytest.fixture
def sample_rows(sample_frame: pd.DataFrame) -> np.ndarray:
    """The sample's hourly feature rows (the tiny model's reference rows)."""
    return hourly_features(sample_frame, SEPSIS_FEATURES, dtype=np.float64)


@pytest.fixture
def sample_patients(sample_frame: pd.DataFrame) -> list[str]:
    """Each sample row's patient, as the recorder keys it (its audit pseudonym)."""
    from config.keys import pseudonymize

    return [pseudonymize(f"physionet-{p}") for p in sample_frame["patient_id"]]


def tiny_scores(registered: Any, tiny_artifacts: Path, rows: np.ndarray) -> np.ndarray:
    """The tiny model's calibrated scores of `rows` (its booster and Platt scaling)."""
    import xgboost as xgb

    from scoring.artifact import Platt

    booster = xgb.Booster(model_file=str(tiny_artifacts / "booster.json"))
    platt = Platt(registered.card["calibration"]["a"], registered.card["calibration"]["b"])
    return platt.apply_array(booster.predict(xgb.DMatrix(rows), output_margin=True).astype(np.float64))
