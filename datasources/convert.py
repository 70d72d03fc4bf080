"""Official downloads -> the files the code reads (layout of the data README: csv.gz, tar.gz, zip).

Every builder writes to the path it is given (a temporary name beside the target); the fetcher checks the
content digest and only then renames it into place.
"""

from __future__ import annotations

import csv
import gzip
import io
import tarfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

PHYSIONET_KEYS = ("patient_id", "source_set", "hour")
ZIP_TIME = (2014, 1, 1, 0, 0, 0)  # fixed member times, so a rebuilt zip is byte-identical run after run


def _psv_rows(patient: str, source_set: str, psv: Path, header: list[str]) -> Iterator[str]:
    """One stay's rows in the CSV layout: ids and hour first, 'NaN' written as an empty field."""
    lines = psv.read_text().splitlines()
    if lines[0].split("|") != header:
        raise ValueError(f"{psv.name}: its header differs from the other stays'")
    for hour, line in enumerate(lines[1:]):
        values = ["" if v == "NaN" else v for v in line.split("|")]
        yield ",".join([patient, source_set, str(hour), *values]) + "\n"


def physionet_csv_gz(stays: Iterable[tuple[str, str, Path]], target: Path, name: str) -> None:
    """(patient id, set letter, .psv file) in patient order -> one gzip CSV of all their hourly rows."""
    header: list[str] = []
    with (
        target.open("wb") as raw_file,
        gzip.GzipFile(filename=name, mode="wb", fileobj=raw_file, mtime=0, compresslevel=6) as raw,
    ):
        out = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        for patient, source_set, psv in stays:
            if not header:
                header = psv.read_text().split("\n", 1)[0].split("|")
                out.write(",".join([*PHYSIONET_KEYS, *header]) + "\n")
            out.writelines(_psv_rows(patient, source_set, psv, header))
        out.flush()
        out.detach()


def physionet_sample(set_a: Path, target: Path, per_class: int = 10) -> None:
    """The small test fixture: the first `per_class` septic and non-septic stays of set A, by patient id."""
    want = {True: per_class, False: per_class}
    with gzip.open(set_a, "rt", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        kept: list[list[str]] = []
        for stay in _stays(reader):
            septic = any(row[-1] == "1" for row in stay)
            if want[septic] > 0:
                kept.extend(stay)
                want[septic] -= 1
            if not any(want.values()):
                break
    rows = _as_pandas_wrote_them(sorted(kept, key=lambda r: (r[0], int(r[2]))))
    with target.open("w", newline="") as out:
        csv.writer(out, lineterminator="\n").writerows([header, *rows])


def _as_pandas_wrote_them(rows: list[list[str]]) -> list[list[str]]:
    """The fixture was written by pandas: a column with a gap or a fraction is float, each value like 97.0."""
    columns = list(zip(*rows, strict=True))
    for index in range(3, len(columns)):
        if any(v == "" or not v.lstrip("-").isdigit() for v in columns[index]):
            columns[index] = tuple(repr(float(v)) if v else "" for v in columns[index])
    return [list(row) for row in zip(*columns, strict=True)]


def _stays(reader: Iterator[list[str]]) -> Iterator[list[list[str]]]:
    current: list[list[str]] = []
    for row in reader:
        if current and row[0] != current[0][0]:
            yield current
            current = []
        current.append(row)
    if current:
        yield current


def bundles_tar_gz(bundles: Iterable[tuple[str, Path]], target: Path) -> None:
    """(member name, JSON file) -> a gzip tar with fixed owners and times, members in name order."""
    with (
        target.open("wb") as raw_file,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw_file, mtime=0) as raw,
        tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for member, path in sorted(bundles):
            info = tarfile.TarInfo(member)
            info.size, info.mode, info.mtime = path.stat().st_size, 0o644, 0
            with path.open("rb") as handle:
                archive.addfile(info, handle)


def diabetes_zip(uci_zip: Path, target: Path, folder: str = "dataset_diabetes") -> None:
    """UCI's archive (any folder nesting) -> `dataset_diabetes/{diabetic_data,IDs_mapping}.csv`."""
    wanted = {"diabetic_data.csv": "diabetic_data.csv", "ids_mapping.csv": "IDs_mapping.csv"}
    with zipfile.ZipFile(uci_zip) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        found = {Path(n).name.lower(): n for n in source.namelist() if Path(n).name.lower() in wanted}
        missing = sorted(set(wanted) - set(found))
        if missing:
            raise ValueError(f"{uci_zip.name} lacks {', '.join(missing)}")
        for key, member in sorted(found.items()):
            info = zipfile.ZipInfo(f"{folder}/{wanted[key]}", ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(info, source.read(member))
