"""Build a mirror of the official data sources (as `<mirror>/<host>/<path>`) from the reference data files.

The reverse of datasources.convert: PhysioNet stays back to one `.psv` each (byte-identical to the official
files: same header, `NaN` for missing, LF endings), Synthea bundles out of the tarball, the UCI zip as is.
Also runnable: `python -m tests.datasources.mirror FOLDER [--demo]` builds a mirror to serve with any HTTP server.
"""

from __future__ import annotations

import csv
import gzip
import shutil
import sys
import tarfile
from collections.abc import Iterable
from pathlib import Path

from datasources import catalogue
from datasources.download import cache_path


def write_stays(mirror: Path, letter: str, set_file: Path, only: Iterable[str] | None = None) -> int:
    """One official `.psv` per stay of a set (or of the given patients); returns how many were written."""
    wanted = set(only) if only is not None else None
    written, current, out = 0, "", None
    with gzip.open(set_file, "rt", newline="") as handle:
        reader = csv.reader(handle)
        header = "|".join(next(reader)[3:]) + "\n"
        for row in reader:
            if row[0] != current:
                current = row[0]
                if out:
                    out.close()
                out = None
                if wanted is None or current in wanted:
                    path = cache_path(mirror, catalogue.PHYSIONET.format(letter, current))
                    path.parent.mkdir(parents=True, exist_ok=True)
                    out = path.open("w", newline="")
                    out.write(header)
                    written += 1
            if out:
                out.write("|".join(v if v else "NaN" for v in row[3:]) + "\n")
    if out:
        out.close()
    return written


def write_bundles(mirror: Path, tarball: Path) -> None:
    """The Synthea bundles at their paths in the pinned source repository."""
    sources = {member: source for member, source, _ in catalogue.synthea_bundles()}
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive:
            handle = archive.extractfile(member)
            if handle is None:
                continue
            path = cache_path(mirror, catalogue.SYNTHEA.format(sources[member.name]))
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as out:
                shutil.copyfileobj(handle, out)


def write_uci(mirror: Path, uci_zip: Path) -> None:
    """The UCI Diabetes-130 zip at UCI's download URL."""
    path = cache_path(mirror, catalogue.UCI_DIABETES)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(uci_zip, path)


def build(mirror: Path, data: Path, demo: bool) -> None:
    """A mirror of everything the demo (or everything the tests and training) download."""
    write_bundles(mirror, data / catalogue.SYNTHEA_BUNDLES)
    write_stays(mirror, "B", data / catalogue.SET_B, None if not demo else catalogue.demo_patients())
    if not demo:
        write_stays(mirror, "A", data / catalogue.SET_A)
        write_uci(mirror, data / catalogue.DIABETES)


if __name__ == "__main__":
    from datasources.location import data_dir

    build(Path(sys.argv[1]), data_dir(), demo="--demo" in sys.argv[2:])
