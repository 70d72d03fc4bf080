"""Make the data folder hold every file the demo (or the tests and training) read, verified.

Order: what is already in the folder and matches SHA256SUMS is kept; the rest is downloaded from the official
sources (or STRATIFY_DATA_MIRROR), converted under a temporary name, verified, and only then renamed into place.
Without a reachable source it stops within seconds with one message saying what to download or set.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from datasources import catalogue, download, location
from datasources.catalogue import Output
from datasources.digest import VerifiedStamps, content_digest, pinned_sums, verified

DOWNLOADS = ".downloads"


class DataUnavailable(Exception):
    """The data cannot be had now; the message is the one thing the user needs to read."""


def missing_outputs(outputs: list[Output], data: Path, stamps: VerifiedStamps) -> list[Output]:
    """Outputs not present and verified (one whose `satisfied_by` output is verified counts as present)."""
    sums = pinned_sums()

    def present(path: str) -> bool:
        return bool(path) and verified(data / path, sums[path], stamps)

    return [o for o in outputs if not present(o.path) and not present(o.satisfied_by)]


def _size(outputs: list[Output]) -> str:
    return f"{sum(o.download_mb for o in outputs):,.1f} MB"


def _listing(outputs: list[Output]) -> str:
    return "\n".join(
        f"  - {o.path}: {o.what}" + (f", {o.download_mb:,.1f} MB to download" if o.download_mb else "") for o in outputs
    )


def unavailable_message(outputs: list[Output], data: Path, reason: str, environ: Mapping[str, str]) -> str:
    """The one message: what is missing, why it cannot be fetched, and the three ways out."""
    mirror = environ.get(location.MIRROR_VARIABLE, "").strip()
    hosts = sorted({urlsplit(s.url).netloc for o in outputs for s in o.sources()})
    return (
        f"Stratify's data sets are not in {data} ({location.why(environ)}) and cannot be downloaded now:\n"
        f"{_listing(outputs)}\n"
        f"{reason}\n"
        f"Do one of these, then run the command again:\n"
        f"  - set {location.DATA_DIR_VARIABLE} to a folder that already holds these files (same layout);\n"
        f"  - set {location.MIRROR_VARIABLE} to the base URL of a mirror of {', '.join(hosts)} "
        f"(as <mirror>/<host>/<path>)"
        f"{f' (now {mirror})' if mirror else ''};\n"
        f"  - give this machine access to {', '.join(hosts)} (about {_size(outputs)} to download)."
    )


def _unreachable(outputs: list[Output], environ: Mapping[str, str]) -> str:
    """'' when one URL of every host involved answers, else which host did not and why."""
    first_by_host: dict[str, str] = {}
    for output in outputs:
        for source in output.sources()[:1]:
            first_by_host.setdefault(urlsplit(source.url).netloc, source.url)
    for url in first_by_host.values():
        where = download.resolve(url, environ)
        reason = download.probe(where)
        if reason:
            return f"{urlsplit(where).netloc} did not answer ({reason})."
    return ""


def _writable(data: Path) -> bool:
    try:
        data.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(data, os.W_OK)


def build_output(output: Output, data: Path, environ: Mapping[str, str], say: Callable[[str], None]) -> None:
    """Download one output's sources, convert under a temporary name, verify, rename into place."""
    cache = data / DOWNLOADS
    sources = output.sources()
    items = [(download.resolve(s.url, environ), download.cache_path(cache, s.url), s.sha256) for s in sources]
    if items:  # (the sample is taken from set A: nothing to download)
        say(f"==> downloading {output.what} ({output.download_mb:,.1f} MB)")
        download.fetch_many(items, download.Progress(output.path, len(items)))
    target = data / output.path
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".tmp-{os.getpid()}-{target.name}")  # same suffix: the digest depends on it
    try:
        output.build([(s, path) for s, (_, path, _) in zip(sources, items, strict=True)], data, temp)
        _verify(output, temp, [path for _, path, _ in items])
        temp.replace(target)
    finally:
        temp.unlink(missing_ok=True)
    for _, path, _ in items:
        path.unlink(missing_ok=True)
    say(f"    {output.path}: verified")


def _verify(output: Output, temp: Path, downloads: list[Path]) -> None:
    expected = pinned_sums()[output.path]
    if content_digest(temp) != expected:
        for path in downloads:  # do not build from the same bad bytes again
            path.unlink(missing_ok=True)
        raise download.DownloadError(
            f"{output.path}: built from the downloads, its content does not match SHA256SUMS ({expected}); "
            "nothing was placed and the downloads were removed, run again to download them afresh"
        )


def ensure(demo: bool, environ: Mapping[str, str] = os.environ, say: Callable[[str], None] = print) -> Path:
    """Make the resolved data folder complete for the demo or for everything; return it."""
    data = location.data_dir(environ)
    stamps = VerifiedStamps(location.verified_stamp())
    missing = missing_outputs(catalogue.needed(demo), data, stamps)
    if not missing:
        say(f"==> data sets: present and verified in {data}")
        return data
    if not _writable(data):
        raise DataUnavailable(unavailable_message(missing, data, f"{data} cannot be written to.", environ))
    reason = _unreachable(missing, environ)
    if reason:
        raise DataUnavailable(unavailable_message(missing, data, reason, environ))
    say(f"==> data sets: {len(missing)} file(s) to build in {data}, about {_size(missing)} to download")
    for output in missing:
        try:
            build_output(output, data, environ, say)
        except download.DownloadError as exc:
            raise DataUnavailable(f"Downloading Stratify's data sets failed: {exc}") from exc
    shutil.rmtree(data / DOWNLOADS, ignore_errors=True)
    return data


def main(argv: list[str] | None = None) -> int:
    """`python3 -m datasources [--demo]`: exit 0 with the data in place, 1 with the one message."""
    args = sys.argv[1:] if argv is None else argv
    try:
        ensure(demo="--demo" in args)
    except DataUnavailable as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    return 0
