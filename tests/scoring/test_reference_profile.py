"""Reference profiles: written at publishing, added to a published folder without touching its model files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from scoring.features.hourly import hourly_features
from scoring.features.spec import SEPSIS_FEATURES
from scoring.monitoring.profile import bin_shares, column_profile
from scoring.training.export import sha256_file
from scoring.training.publish import BOOSTER_NAME, CARD_JSON, CARD_MD, ONNX_NAME, profile_add


def test_column_profile_of_known_values() -> None:
    values = np.array([*range(1, 101), np.nan, np.nan], dtype=np.float64)
    profile = column_profile(values)
    assert profile["n"] == 102 and abs(profile["missing_share"] - 2 / 102) < 1e-6
    assert len(profile["edges"]) == 9 and all(0.09 <= s <= 0.11 for s in profile["shares"])
    assert abs(sum(profile["shares"]) - 1) < 1e-6
    assert profile["quantiles"][0] == 1 and profile["quantiles"][-1] == 100 and profile["mean"] == 50.5


def test_ties_merge_bins_and_absent_columns_have_only_missingness() -> None:
    binary = column_profile(np.array([0.0] * 80 + [1.0] * 20))
    assert binary["edges"] == [0.0, 1.0] and binary["shares"] == [0.8, 0.2, 0.0]
    assert column_profile(np.array([np.nan, np.nan])) == {"n": 2, "missing_share": 1.0}
    assert bin_shares(np.array([5.0]), np.array([1.0, 2.0])).tolist() == [0.0, 0.0, 1.0]


def test_publish_profiles_features_and_score(tiny_artifacts: Path, sample_frame: pd.DataFrame) -> None:
    profile = json.loads((tiny_artifacts / CARD_JSON).read_text())["reference_profile"]
    x = hourly_features(sample_frame, SEPSIS_FEATURES, dtype=np.float32)
    assert profile["rows"] == len(x) and profile["rows_from"] == "test fixture sample"
    assert set(profile["features"]) == {f.name for f in SEPSIS_FEATURES}
    hr = SEPSIS_FEATURES.index(next(f for f in SEPSIS_FEATURES if f.name == "HR_last"))
    assert abs(profile["features"]["HR_last"]["missing_share"] - float(np.isnan(x[:, hr]).mean())) < 1e-6
    assert 0 < profile["score"]["quantiles"][0] <= profile["score"]["quantiles"][-1] < 1


def test_profile_add_leaves_the_model_files_untouched(
    tiny_artifacts: Path, sample_frame: pd.DataFrame, tmp_path: Path
) -> None:
    folder = tmp_path / "sepsis" / "0.0.1-test"
    shutil.copytree(tiny_artifacts, folder)
    card = json.loads((folder / CARD_JSON).read_text())
    del card["reference_profile"]
    (folder / CARD_JSON).write_text(json.dumps(card))
    before = {name: sha256_file(folder / name) for name in (ONNX_NAME, BOOSTER_NAME, CARD_MD)}
    rows = hourly_features(sample_frame, SEPSIS_FEATURES, dtype=np.float32)[:100]
    profile_add(folder, rows, "first 100 rows")
    assert {name: sha256_file(folder / name) for name in before} == before
    written = json.loads((folder / CARD_JSON).read_text())["reference_profile"]
    assert written["rows"] == 100 and written["rows_from"] == "first 100 rows"
