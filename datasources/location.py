"""Which folder holds the data sets: the one rule shared by the settings, the fetcher and the tests."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR_VARIABLE = "STRATIFY_DATA_DIR"
MIRROR_VARIABLE = "STRATIFY_DATA_MIRROR"


def data_dir(environ: Mapping[str, str] = os.environ, base_dir: Path = BASE_DIR) -> Path:
    """STRATIFY_DATA_DIR if set; else a `shared/data` folder beside the checkout; else the local cache var/data."""
    chosen = environ.get(DATA_DIR_VARIABLE, "").strip()
    if chosen:
        return Path(chosen).expanduser().resolve()
    beside = base_dir.parent / "shared" / "data"
    return beside if beside.is_dir() else base_dir / "var" / "data"


def why(environ: Mapping[str, str] = os.environ, base_dir: Path = BASE_DIR) -> str:
    """Say which rule picked the folder (for the fetcher's messages)."""
    if environ.get(DATA_DIR_VARIABLE, "").strip():
        return f"{DATA_DIR_VARIABLE} is set"
    if (base_dir.parent / "shared" / "data").is_dir():
        return "a shared/data folder sits beside the checkout"
    return f"the local cache: no {DATA_DIR_VARIABLE}, no shared/data beside the checkout"


def verified_stamp(base_dir: Path = BASE_DIR) -> Path:
    """Where the sizes and times of files already verified are kept, so a re-run does not hash them again."""
    return base_dir / "var" / "datasets-verified.json"
