"""Content digests of the data files, as pinned in SHA256SUMS.

A digest is taken over what the code reads, not over the compressed bytes, so a file rebuilt from the official
sources (other gzip or zip settings) and the reference copy have the same digest: a `.csv.gz` by its
decompressed text, a `.tar.gz` or `.zip` by the sorted list of its members' SHA-256 and names, any other file by
its bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Protocol

SUMS_FILE = Path(__file__).resolve().parent / "SHA256SUMS"
_CHUNK = 1 << 20


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def stream_sha256(handle: _Readable | IO[bytes]) -> str:
    """SHA-256 of everything a binary stream still yields."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(_CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    with path.open("rb") as handle:
        return stream_sha256(handle)


def _members_digest(members: Iterable[tuple[str, str]]) -> str:
    listing = "".join(f"{sha}  {name}\n" for name, sha in sorted(members))
    return hashlib.sha256(listing.encode()).hexdigest()


def _tar_members(path: Path) -> Iterator[tuple[str, str]]:
    with tarfile.open(path, "r:gz") as archive:
        for member in archive:
            handle = archive.extractfile(member) if member.isfile() else None
            if handle is not None:
                yield member.name, stream_sha256(handle)


def _zip_members(path: Path) -> Iterator[tuple[str, str]]:
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if not name.endswith("/"):
                with archive.open(name) as handle:
                    yield name, stream_sha256(handle)


def content_digest(path: Path) -> str:
    """The digest SHA256SUMS pins for this file (see the module docstring)."""
    if path.name.endswith(".csv.gz"):
        with gzip.open(path, "rb") as handle:
            return stream_sha256(handle)
    if path.name.endswith(".tar.gz"):
        return _members_digest(_tar_members(path))
    if path.suffix == ".zip":
        return _members_digest(_zip_members(path))
    return file_sha256(path)


def pinned_sums(sums_file: Path = SUMS_FILE) -> dict[str, str]:
    """Relative path -> pinned digest, from the repository's SHA256SUMS."""
    pinned: dict[str, str] = {}
    for line in sums_file.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split(maxsplit=1)
            pinned[name.strip()] = digest
    return pinned


class VerifiedStamps:
    """Files already verified, by path, size and modification time, kept in a small JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.known: dict[str, list[object]] = json.loads(path.read_text())
        except (OSError, ValueError):
            self.known = {}

    def matches(self, file: Path, digest: str) -> bool:
        """Whether the file still is what was verified against this digest."""
        stat = file.stat()
        return self.known.get(str(file)) == [stat.st_size, stat.st_mtime_ns, digest]

    def remember(self, file: Path, digest: str) -> None:
        """Record a file verified against this digest (best effort: the cache may be read-only)."""
        stat = file.stat()
        self.known[str(file)] = [stat.st_size, stat.st_mtime_ns, digest]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.known, indent=0, sort_keys=True))
        except OSError:
            pass


def verified(file: Path, digest: str, stamps: VerifiedStamps) -> bool:
    """Whether the file exists and has the pinned content digest (hashing it only when it changed)."""
    if not file.is_file():
        return False
    if stamps.matches(file, digest):
        return True
    if content_digest(file) != digest:
        return False
    stamps.remember(file, digest)
    return True
