"""The files the code reads, the official sources each is built from, and what the demo needs.

Sources (licences and citations in the README, "Data sets"):
- PhysioNet/CinC Challenge 2019, version 1.0.0 (CC BY 4.0): one pipe-separated file per ICU stay,
  `https://physionet.org/files/challenge-2019/1.0.0/training/training_set{A,B}/pNNNNNN.psv`.
- UCI "Diabetes 130-US hospitals for years 1999-2008" (CC BY 4.0): one zip.
- SMART Health IT generated sample data, Synthea R4 (Apache-2.0), pinned to one commit: one JSON Bundle a patient.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from datasources import convert

HERE = Path(__file__).resolve().parent
PHYSIONET = "https://physionet.org/files/challenge-2019/1.0.0/training/training_set{}/{}.psv"
UCI_DIABETES = "https://archive.ics.uci.edu/static/public/296/diabetes+130-us+hospitals+for+years+1999-2008.zip"
SYNTHEA_COMMIT = "25ac8089f0464b8673c7669509dc0bb8f4883773"
SYNTHEA = f"https://raw.githubusercontent.com/smart-on-fhir/generated-sample-data/{SYNTHEA_COMMIT}/{{}}"
# Patient numbers of the two training sets (set A has four gaps in its numbering).
SET_A_RANGES = ((1, 19312), (19314, 20000), (20007, 20007), (20308, 20643))
SET_B_RANGES = ((100001, 120000),)
MB = 1_000_000

SET_A = "physionet2019/physionet2019_training_setA.csv.gz"
SET_B = "physionet2019/physionet2019_training_setB.csv.gz"
DEMO_SET_B = "physionet2019/physionet2019_demo_setB.csv.gz"
SAMPLE = "physionet2019/physionet2019_sample_20patients.csv"
SYNTHEA_BUNDLES = "synthea/synthea_r4_inpatient_bundles.tar.gz"
DIABETES = "diabetes130/dataset_diabetes.zip"


@dataclass(frozen=True)
class Source:
    """One official file to download (with its SHA-256 where the source pins one per file)."""

    url: str
    sha256: str = ""


Builder = Callable[[list[tuple[Source, Path]], Path, Path], None]  # (downloads, data folder, temp target)


@dataclass(frozen=True)
class Output:
    """A file the code reads: where it lives, what it is built from and how, and who needs it."""

    path: str
    what: str
    download_mb: float
    sources: Callable[[], list[Source]]
    build: Builder
    demo: bool = False
    full: bool = True
    satisfied_by: str = ""  # another output that makes this one unnecessary


def _stays(letter: str, numbers: list[int]) -> list[Source]:
    return [Source(PHYSIONET.format(letter, f"p{n:06d}")) for n in numbers]


def _numbers(ranges: tuple[tuple[int, int], ...]) -> list[int]:
    return [n for low, high in ranges for n in range(low, high + 1)]


def demo_patients() -> list[str]:
    """The demo's 200 set-B stays: the first 100 septic and the first 100 non-septic by patient id."""
    lines = (HERE / "physionet_demo_setB_ids.txt").read_text().splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def synthea_bundles() -> list[tuple[str, str, str]]:
    """(member name in the tarball, path in the source repository, SHA-256) of the 100 selected bundles."""
    with (HERE / "synthea_bundles.csv").open(newline="") as handle:
        return [(r["file"], r["source_path"], r["sha256"]) for r in csv.DictReader(handle)]


def _build_stays(letter: str, name: str) -> Builder:
    def build(downloads: list[tuple[Source, Path]], data: Path, target: Path) -> None:
        stays = [(path.stem, letter, path) for _, path in downloads]
        convert.physionet_csv_gz(stays, target, name)

    return build


def _build_bundles(downloads: list[tuple[Source, Path]], data: Path, target: Path) -> None:
    members = {source: member for member, source, _ in synthea_bundles()}
    convert.bundles_tar_gz(
        [(members[unquote(s.url.split(f"{SYNTHEA_COMMIT}/", 1)[1])], p) for s, p in downloads], target
    )


def _build_sample(downloads: list[tuple[Source, Path]], data: Path, target: Path) -> None:
    convert.physionet_sample(data / SET_A, target)


def _build_diabetes(downloads: list[tuple[Source, Path]], data: Path, target: Path) -> None:
    convert.diabetes_zip(downloads[0][1], target)


# In build order: the sample is taken from set A, so it comes after it.
OUTPUTS: tuple[Output, ...] = (
    Output(
        SYNTHEA_BUNDLES,
        "100 Synthea R4 patient bundles (GitHub, SMART Health IT)",
        178.6,
        lambda: [Source(SYNTHEA.format(quote(src)), sha) for _, src, sha in synthea_bundles()],
        _build_bundles,
        demo=True,
    ),
    Output(
        DEMO_SET_B,
        "the demo's 200 PhysioNet 2019 set-B ICU stays (PhysioNet, 200 files)",
        1.6,
        lambda: _stays("B", [int(p[1:]) for p in demo_patients()]),
        _build_stays("B", "demo_setB.csv"),
        demo=True,
        full=False,
        satisfied_by=SET_B,
    ),
    Output(
        SET_A,
        "PhysioNet 2019 training set A, 20,336 ICU stays (PhysioNet, one file each)",
        131.4,
        lambda: _stays("A", _numbers(SET_A_RANGES)),
        _build_stays("A", "physionet2019_training_setA.csv"),
    ),
    Output(
        SET_B,
        "PhysioNet 2019 training set B, 20,000 ICU stays (PhysioNet, one file each)",
        123.7,
        lambda: _stays("B", _numbers(SET_B_RANGES)),
        _build_stays("B", "physionet2019_training_setB.csv"),
    ),
    Output(SAMPLE, "20-patient test fixture, taken from set A (no download)", 0, list, _build_sample),
    Output(
        DIABETES,
        "UCI Diabetes-130 (UCI Machine Learning Repository, one zip)",
        3.4,
        lambda: [Source(UCI_DIABETES)],
        _build_diabetes,
    ),
)


def needed(demo: bool) -> list[Output]:
    """The outputs the demo (or the tests and training: everything) read, in build order."""
    return [o for o in OUTPUTS if (o.demo if demo else o.full)]
