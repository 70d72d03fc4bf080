"""A site's own labelled ICU stays for adapting the sepsis model: reading them (one file, or a folder in the
PhysioNet 2019 layout), and the checks that refuse data unfit for it (columns, labels, stays that are the model's
own training stays, stays exported twice).

Labels follow the PhysioNet 2019 definition (Reyna MA, et al. Crit Care Med 2020;48(2):210-217): SepsisLabel is
0 or 1 on every hour and, once 1 (6 h before Sepsis-3 onset), stays 1 to the end of the stay.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from config.errors import ValidationFailed
from scoring.artifact import BOOSTER_NAME, CARD_JSON, sha256_file
from scoring.features.spec import PHYSIONET_OBSERVATIONS, SPEC_VERSION
from scoring.training.data import physionet_read, shared_data_dir

# Vergouwe Y, et al. Substantial effective sample sizes were required for external validation studies of
# predictive logistic regression models. J Clin Epidemiol 2005;58(5):475-483: at least 100 events (here: septic
# stays) to fit and to assess a logistic calibration.
MIN_SEPTIC_STAYS = 100
REQUIRED_COLUMNS = (
    "patient_id",
    "hour",
    "Age",
    "Gender",
    "ICULOS",
    "SepsisLabel",
    *(o.column for o in PHYSIONET_OBSERVATIONS),
)
# The columns whose values make a stay what it is (its id and set name are not: a copy may be renamed).
CONTENT_COLUMNS = tuple(c for c in REQUIRED_COLUMNS if c != "patient_id")


@dataclass(frozen=True)
class SiteRows:
    """The site's hourly rows (sorted by stay and hour), what they were read from and their digest."""

    frame: pd.DataFrame
    sha256: str
    files: tuple[str, ...]
    file_sha256: tuple[str, ...]
    exported_at: str  # the newest file's modification time: the data carry no calendar dates


def base_load(folder: Path) -> tuple[dict[str, Any], Any]:
    """The base version's card and booster, checked: a sepsis model of this spec whose booster matches its card."""
    import xgboost as xgb

    try:
        card: dict[str, Any] = json.loads((folder / CARD_JSON).read_text())
    except (OSError, ValueError) as exc:
        raise ValidationFailed(f"{folder / CARD_JSON} cannot be read as a model card: {exc}") from exc
    if card.get("name") != "sepsis" or card.get("kind") != "ml":
        raise ValidationFailed(
            f"{folder} holds {card.get('name')!r}, not the sepsis model: only the sepsis model "
            "can be recalibrated from PhysioNet-layout stays."
        )
    if card.get("spec_version") != SPEC_VERSION:
        raise ValidationFailed(
            f"{folder} was trained on feature spec {card.get('spec_version')}, this code serves {SPEC_VERSION}."
        )
    if sha256_file(folder / BOOSTER_NAME) != card.get("booster_sha256"):
        raise ValidationFailed(f"{folder / BOOSTER_NAME} does not match the checksum in its model card.")
    return card, xgb.Booster(model_file=str(folder / BOOSTER_NAME))


def site_read(path: Path) -> SiteRows:
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
    return SiteRows(frame, _digest(files, shas), tuple(f.name for f in files), shas, _newest(files))


def _site_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ValidationFailed(f"{path} is neither a file nor a folder.")
    psv = sorted(path.glob("*.psv"))
    files = psv or sorted([*path.glob("*.csv"), *path.glob("*.csv.gz")])
    if not files:
        raise ValidationFailed(f"{path} holds no .psv, .csv or .csv.gz file of ICU stays.")
    return files


def _psv_read(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, sep="|", dtype={o.column: "float64" for o in PHYSIONET_OBSERVATIONS})
    return frame.assign(patient_id=path.stem, hour=np.arange(len(frame)))


def _digest(files: list[Path], shas: tuple[str, ...]) -> str:
    """sha256 of the one file, or of the sorted (name, sha256) lines of a folder's files."""
    if len(files) == 1:
        return shas[0]
    lines = "".join(f"{f.name} {sha}\n" for f, sha in zip(files, shas, strict=True))
    return hashlib.sha256(lines.encode()).hexdigest()


def _newest(files: list[Path]) -> str:
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


def stay_fingerprints(frame: pd.DataFrame) -> pd.Series:
    """One 64-bit digest per stay of its values (not its id): the same stay under another id has the same one."""
    rows = pd.util.hash_pandas_object(frame[list(CONTENT_COLUMNS)], index=False).to_numpy(np.uint64)
    return pd.Series(rows).groupby(frame["patient_id"].to_numpy()).sum()  # wraps modulo 2**64 (intended)


def duplicates_check(frame: pd.DataFrame) -> None:
    """Refuse stays exported twice under different ids: the copies could land in both halves (leakage)."""
    prints = stay_fingerprints(frame)
    twice = prints[prints.duplicated(keep=False)]
    if len(twice):
        raise ValidationFailed(
            f"{len(twice)} stays are copies of one another ({', '.join(map(str, twice.index[:4]))}): one stay in "
            "both the adaptation and the validation half would leak; remove the copies."
        )


def leakage_check(adapt: pd.DataFrame, validate: pd.DataFrame) -> None:
    """No stay (by id or by content) may be in both the adaptation and the validation data."""
    shared_ids = set(pd.unique(adapt["patient_id"])) & set(pd.unique(validate["patient_id"]))
    shared_content = set(stay_fingerprints(adapt)) & set(stay_fingerprints(validate))
    if shared_ids or shared_content:
        first = sorted(map(str, shared_ids))[:3]
        raise ValidationFailed(
            f"Leakage: {max(len(shared_ids), len(shared_content))} stay(s) are in both the adaptation and the "
            f"validation data{' (' + ', '.join(first) + ')' if first else ' (same values, other ids)'}; "
            "the validation half must be patients the adaptation never saw."
        )


def training_overlap_check(site: SiteRows, card: dict[str, Any]) -> None:
    """Refuse the model's own training data as a 'site': by file digest, then by stay content."""
    training = card.get("training_data") or {}
    if (training.get("sha256") or {}).get("A") in site.file_sha256:
        raise ValidationFailed(
            f"{', '.join(site.files)}: holds the model's training set ({card.get('name')} {card.get('version')}): "
            "a site's own stays must be new to the model."
        )
    path = training_path(card)
    if path is None:
        return
    seen = set(stay_fingerprints(physionet_read(path)[0]))
    found = stay_fingerprints(site.frame)
    inside = found[found.isin(seen)]
    if len(inside):
        raise ValidationFailed(
            f"{len(inside)} of {len(found)} site stays are stays of the model's training set "
            f"({path.name}, e.g. {inside.index[0]}): a site's own stays must be new to the model."
        )


def training_path(card: dict[str, Any]) -> Path | None:
    """The base version's training file (set A) in the shared data, when present and unchanged."""
    files = (card.get("training_data") or {}).get("files") or []
    expected = ((card.get("training_data") or {}).get("sha256") or {}).get("A")
    if not files or not expected:
        return None
    path = shared_data_dir() / files[0]
    return path if path.is_file() and sha256_file(path) == expected else None
