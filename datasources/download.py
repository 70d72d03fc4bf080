"""HTTP downloads that resume: a `.part` file grows until complete, a re-run asks only for the rest (Range).

Only the standard library (urllib), so proxies from the environment apply. STRATIFY_DATA_MIRROR replaces every
official host by a mirror laid out as `wget -x` would save the official URLs: `<mirror>/<host>/<path>`.
"""

from __future__ import annotations

import http.client
import os
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TextIO
from urllib.parse import unquote, urlsplit

from datasources.digest import file_sha256
from datasources.location import MIRROR_VARIABLE

TIMEOUT_SECONDS = 30
PROBE_SECONDS = 5
WORKERS = 8
_CHUNK = 1 << 16


class DownloadError(Exception):
    """A download failed or its bytes are not the pinned ones; the message says which URL and why."""


def resolve(url: str, environ: Mapping[str, str] = os.environ) -> str:
    """The URL to fetch: the official one, or its place on the mirror."""
    mirror = environ.get(MIRROR_VARIABLE, "").strip().rstrip("/")
    if not mirror:
        return url
    parts = urlsplit(url)
    return f"{mirror}/{parts.netloc}{parts.path}"


def cache_path(folder: Path, url: str) -> Path:
    """Where a download of this official URL is kept until its output is built: `<folder>/<host>/<path>`."""
    parts = urlsplit(url)
    return folder / parts.netloc / unquote(parts.path).lstrip("/")


def probe(url: str) -> str:
    """'' when the URL's server answers within a few seconds (any HTTP status), else why not."""
    request = urllib.request.Request(url, method="HEAD")  # noqa: S310 (http/https URLs only)
    try:
        with urllib.request.urlopen(request, timeout=PROBE_SECONDS):  # noqa: S310 (http/https URLs only)
            return ""
    except urllib.error.HTTPError:
        return ""
    except (urllib.error.URLError, OSError) as exc:
        return str(getattr(exc, "reason", exc))


class Progress:
    """One line per output: files and megabytes done; redrawn in place on a terminal, every 10 % otherwise."""

    def __init__(self, label: str, files: int, stream: TextIO | None = None) -> None:
        self.label, self.files, self.done, self.bytes = label, files, 0, 0
        self.stream = stream or sys.stderr
        self.lock = threading.Lock()
        self.tty = self.stream.isatty()
        self.shown = -1

    def add(self, nbytes: int = 0, files: int = 0) -> None:
        """Count bytes received and files finished."""
        with self.lock:
            self.bytes += nbytes
            self.done += files
            self._show(final=False)

    def _show(self, final: bool) -> None:
        tenth = self.done * 10 // max(self.files, 1)
        if not (self.tty or tenth > self.shown or (final and self.shown < 10)):
            return
        self.shown = tenth
        line = f"    {self.label}: {self.done}/{self.files} files, {self.bytes / 1e6:.1f} MB"
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Print the final count."""
        with self.lock:
            self._show(final=True)
            if self.tty:
                self.stream.write("\n")


def fetch(url: str, target: Path, sha256: str = "", on_bytes: Callable[[int], None] = lambda n: None) -> None:
    """Download url to target unless it is there; resume a `.part` left by an interrupted run."""
    if target.is_file():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            _receive(response, part, offset, on_bytes)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the part is already complete
            part.replace(target)
            return
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        raise DownloadError(f"{url}: {getattr(exc, 'reason', exc)!s} (run again to resume)") from exc
    _check_pinned(url, part, sha256)
    part.replace(target)


def _receive(response: object, part: Path, offset: int, on_bytes: Callable[[int], None]) -> None:
    """Append a 206 to the part, or start over on a 200; refuse a short body."""
    resumed = getattr(response, "status", 200) == 206
    if resumed and _range_start(response) != offset:
        part.unlink()
        raise ValueError("the server answered another byte range than the one asked for")
    expected = response.headers.get("Content-Length")  # type: ignore[attr-defined]
    received = 0
    with part.open("ab" if resumed else "wb") as out:
        for chunk in iter(lambda: response.read(_CHUNK), b""):  # type: ignore[attr-defined]
            out.write(chunk)
            received += len(chunk)
            on_bytes(len(chunk))
    if expected is not None and received != int(expected):
        raise ValueError(f"connection closed after {received} of {expected} bytes")


def _range_start(response: object) -> int:
    content_range = response.headers.get("Content-Range", "")  # type: ignore[attr-defined]
    try:
        return int(content_range.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return -1


def _check_pinned(url: str, part: Path, sha256: str) -> None:
    if sha256 and file_sha256(part) != sha256:
        part.unlink()
        raise DownloadError(
            f"{url}: checksum mismatch (expected SHA-256 {sha256}); the file was removed, "
            "run again to download it afresh"
        )


def fetch_many(items: list[tuple[str, Path, str]], progress: Progress) -> None:
    """Download (url, target, sha256) items on a few threads; the first failure stops the rest and is raised."""
    stop = threading.Event()

    def one(item: tuple[str, Path, str]) -> None:
        if stop.is_set():
            return
        try:
            fetch(*item, on_bytes=lambda n: progress.add(nbytes=n))
        except DownloadError:
            stop.set()
            raise
        progress.add(files=1)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = [pool.submit(one, item) for item in items]
    progress.close()
    for future in futures:
        future.result()
