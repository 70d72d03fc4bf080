"""A site's labelled ICU stays in the PhysioNet 2019 layout: one hourly table (CSV, optionally gzipped), a folder of
them, or a folder of the challenge's own per-stay .psv files; columns and labels checked, features built by the
training path (`scoring.features.hourly`, the golden parity test's twin of the serving extractor).

Labels are the table's SepsisLabel, which follows the PhysioNet 2019 definition (Reyna MA, et al. Crit Care Med
2020;48(2):210-217): 0 or 1 on every hour and, once 1 (6 h before Sepsis-3 onset), 1 to the end of the stay.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from config.errors import ValidationFailed
from scoring.artifact import sha256_file
from scoring.features.spec import PHYSIONET_OBSERVATIONS
from scoring.training.data import physionet_read
from scoring.training.sepsis import prepare_frame
from scoring.training.stays import Site, Stays, content_digests

OBSERVATION_COLUMNS = tuple(o.column for o in PHYSIONET_OBSERVATIONS)
REQUIRED_COLUMNS = ("patient_id", "hour", "Age", "Gender", "ICULOS", "SepsisLabel", *OBSERVATION_COLUMNS)
LAYOUT = "PhysioNet 2019 hourly table"


def physionet_site_read(path: Path) -> Site:
    """A CSV file (optionally gzipped) in our PhysioNet layout, or a folder of them, or a folder of the challenge's
    own per-stay .psv files (pipe-separated, the stay id is the file name); columns and labels checked."""
    files = _site_files(path)
    try:
        frames = [_psv_read(f) if f.suffix == ".psv" else physionet_read(f)[0] for f in files]
    except (OSError, ValueError, KeyError) as exc:
        raise ValidationFailed(f"{path} cannot be read as PhysioNet-layout data: {exc}") from exc
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frame = frame.sort_values(["patient_id", "hour"], kind="stable").reset_index(drop=True)
    columns_check(frame, path)
    labels_check(frame, path)
    shas = tuple(sha256_file(f) for f in files)
    facts = {
        "sha256": _digest(files, shas),
        "exported_at": newest(files),
        "layout": LAYOUT,
        "dates": "the PhysioNet layout carries no calendar dates (hours since ICU admission); "
        "exported_at is the newest file's modification time",
        "labels": "the table's SepsisLabel column",
    }
    stays = Stays(prepare_frame(frame), physionet_digests(frame))
    return Site(stays, tuple(f.name for f in files), shas, facts)


def _site_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ValidationFailed(f"{path} is neither a file nor a folder.")
    psv = sorted(path.glob("*.psv"))
    files = psv or sorted([*path.glob("*.csv"), *path.glob("*.csv.gz")])
    if not files:
        raise ValidationFailed(f"{path} holds no .psv, .csv or .csv.gz file of ICU stays, nor FHIR .ndjson files.")
    return files


def _psv_read(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, sep="|", dtype={o.column: "float64" for o in PHYSIONET_OBSERVATIONS})
    return frame.assign(patient_id=path.stem, hour=np.arange(len(frame)))


def _digest(files: list[Path], shas: tuple[str, ...]) -> str:
    """sha256 of the one file, or of the sorted (name, sha256) lines of a folder's files."""
    if len(files) == 1:
        return shas[0]
    return folder_digest([f.name for f in files], shas)


def folder_digest(names: list[str], shas: tuple[str, ...]) -> str:
    """sha256 of the (name, sha256) lines of a folder's files, in the order given (sorted by name)."""
    lines = "".join(f"{name} {sha}\n" for name, sha in zip(names, shas, strict=True))
    return hashlib.sha256(lines.encode()).hexdigest()


def newest(files: list[Path]) -> str:
    """The newest file's modification time (UTC, seconds)."""
    stamp = max(f.stat().st_mtime for f in files)
    return datetime.fromtimestamp(stamp, UTC).replace(microsecond=0).isoformat()


def columns_check(frame: pd.DataFrame, where: Path) -> None:
    """Every column the features and labels need (values may be empty)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValidationFailed(
            f"{where} lacks the column(s) {', '.join(sorted(missing))} of the PhysioNet 2019 layout; "
            "a column may be empty, but it must be there."
        )


def labels_check(frame: pd.DataFrame, where: Path) -> None:
    """SepsisLabel 0 or 1 on every row, and never 1 then 0 within a stay (the challenge's definition)."""
    labels = frame["SepsisLabel"]
    if labels.isna().any() or not set(pd.unique(labels)) <= {0, 1}:
        raise ValidationFailed(f"{where}: SepsisLabel must be 0 or 1 on every row.")
    falls = labels.groupby(frame["patient_id"]).diff().lt(0)
    if falls.any():
        stays = pd.unique(frame.loc[falls, "patient_id"])
        raise ValidationFailed(
            f"{where}: SepsisLabel falls from 1 back to 0 within {len(stays)} stay(s) (first: {stays[0]}); in the "
            "PhysioNet 2019 definition a label stays 1 from 6 h before onset to the end of the stay."
        )


def physionet_digests(frame: pd.DataFrame) -> pd.Series:
    """`content_digests` of hourly rows sorted by stay and hour: each non-empty observation cell at its row's ICULOS,
    and each stay's last ICULOS, Gender and Age."""
    values = frame[list(OBSERVATION_COLUMNS)].to_numpy(np.float64)
    row, column = np.nonzero(~np.isnan(values))
    observations = pd.DataFrame(
        {
            "stay": frame["patient_id"].to_numpy()[row],
            "hours": frame["ICULOS"].to_numpy(np.float64)[row],
            "column": column,
            "value": values[row, column],
        }
    )
    last = frame.groupby("patient_id", sort=False).tail(1)
    stays = pd.DataFrame(
        {"stay": last["patient_id"], "length": last["ICULOS"], "sex": last["Gender"], "age": last["Age"]}
    )
    return content_digests(observations, stays)
