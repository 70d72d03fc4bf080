"""Loading the shared data sets (paths from settings.SHARED_DATA), with the sha256 of each file used."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from scoring.features.spec import PHYSIONET_OBSERVATIONS
from scoring.training.export import sha256_file

PHYSIONET_SET = "physionet2019/physionet2019_training_set{}.csv.gz"
DIABETES_ZIP = "diabetes130/dataset_diabetes.zip"
DIABETES_CSV = "dataset_diabetes/diabetic_data.csv"


def shared_data_dir() -> Path:
    """The shared data folder (STRATIFY_DATA_DIR)."""
    from django.conf import settings

    return Path(str(settings.SHARED_DATA))


def physionet_load(which: str) -> tuple[pd.DataFrame, str]:
    """One PhysioNet 2019 set ("A" or "B"), sorted by patient and hour, and the file's sha256."""
    return physionet_read(shared_data_dir() / PHYSIONET_SET.format(which))


def physionet_read(path: Path) -> tuple[pd.DataFrame, str]:
    """Hourly ICU rows in the PhysioNet 2019 layout (CSV, optionally gzipped), sorted by patient and hour, and the
    file's sha256. The shared sets and a site's own export for recalibration are read the same way."""
    numeric = {o.column: "float64" for o in PHYSIONET_OBSERVATIONS}
    frame = pd.read_csv(path, dtype={**numeric, "patient_id": "str", "source_set": "str"})
    frame = frame.sort_values(["patient_id", "hour"], kind="stable").reset_index(drop=True)
    return frame, sha256_file(path)


def diabetes_load() -> tuple[pd.DataFrame, str]:
    """The Diabetes-130 encounters ('?' is missing; the string 'None' means 'test not done') and sha256."""
    import zipfile

    path = shared_data_dir() / DIABETES_ZIP
    with zipfile.ZipFile(path) as z, z.open(DIABETES_CSV) as fh:
        frame = pd.read_csv(fh, na_values="?", keep_default_na=False, low_memory=False)
    return frame, sha256_file(path)
