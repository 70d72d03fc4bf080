"""The Bulk Data client: `$export` kick-off, status polling, streamed NDJSON downloads, cancel.

HL7 FHIR Bulk Data Access 2.0.0 (https://hl7.org/fhir/uv/bulkdata/STU2/export.html). No Python library
for the client side is kept up well enough to depend on, so the protocol lives behind this one module.
- Polling honours `Retry-After` (seconds or an HTTP date); without it, waits back off exponentially from
  1 s up to a cap. 429 and 5xx answers that carry a `transient` OperationOutcome (or none) are waited out.
- Downloads stream to `<dest>.part` in 64 KiB pieces and are renamed when complete: a file is never held
  in memory, and a file already on disk is never fetched again (resume).
- The token comes from a provider (`token(fresh)`): a 401 asks it for a fresh token once and repeats the
  request, so a backend token expiring mid-run costs one request. The token is sent only to the FHIR
  server's own origin (a manifest may point at storage elsewhere when `requiresAccessToken` is false).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests

from config import fetch, outbound
from fhirapp.errors import FhirRequestRejected, FhirServerError

TokenProvider = Callable[[bool], str]  # token(fresh) -> bearer token
Sleep = Callable[[float], None]
_PIECE = 64 * 1024
_TIMEOUT = (10.0, 60.0)  # connect, read between bytes


@dataclass(frozen=True, slots=True)
class ExportFile:
    """One file of a completion manifest (`output` or `error`)."""

    type: str
    url: str
    count: int | None = None


@dataclass(frozen=True, slots=True)
class Manifest:
    """A completed export's manifest (spec "Response - Complete Status")."""

    transaction_time: str
    request: str
    requires_access_token: bool
    output: tuple[ExportFile, ...]
    error: tuple[ExportFile, ...]
    deleted: tuple[ExportFile, ...] = ()  # Bundles of DELETE entries: what was deleted since `_since`

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> Manifest:
        """From the manifest JSON; FhirServerError when it lacks what the spec requires."""
        try:
            return cls(
                str(body["transactionTime"]),
                str(body.get("request", "")),
                bool(body.get("requiresAccessToken", False)),
                _files(body.get("output")),
                _files(body.get("error")),
                _files(body.get("deleted")),
            )
        except (KeyError, TypeError) as exc:
            raise FhirServerError("The export manifest is malformed.", extra={"missing": str(exc)}) from exc


def _files(items: Any) -> tuple[ExportFile, ...]:
    return tuple(ExportFile(str(i["type"]), str(i["url"]), i.get("count")) for i in items or ())


@dataclass(frozen=True, slots=True)
class Pending:
    """The export is still running: the server's progress text and the seconds to wait."""

    progress: str
    wait: float


@dataclass(frozen=True)
class BulkClient:
    """Bulk Data export against one FHIR server, with a token provider (SMART Backend Services)."""

    base_url: str
    token: TokenProvider
    backoff_cap: float = 60.0
    poll_total: float = 6 * 3600.0
    sleep: Sleep = time.sleep

    def kick_off(self, path: str, params: Mapping[str, str]) -> str:
        """Start an export (`$export`, `Patient/$export`, `Group/<id>/$export`); the status URL."""
        response = self._send(
            "GET",
            f"{self.base_url.rstrip('/')}/{path}",
            params=params,
            headers={"Prefer": "respond-async", "Accept": "application/fhir+json"},
        )
        with response:
            if response.status_code != 202 or not response.headers.get("Content-Location"):
                raise _failure(response, "The FHIR server did not accept the export")
            return str(response.headers["Content-Location"])

    def check(self, status_url: str, attempt: int = 0) -> Manifest | Pending:
        """One status request: the manifest when complete, else how long to wait before asking again
        (`Retry-After`, or backoff by `attempt`); errors name the server's reason."""
        response = self._send("GET", status_url, headers={"Accept": "application/json"})
        with response:
            if response.status_code == 200:
                return Manifest.parse(orjson.loads(response.content))
            if response.status_code != 202 and not _transient(response):
                raise _failure(response, "The export failed")
            progress = response.headers.get("X-Progress", "")[:100]
            return Pending(progress, self._wait(response.headers.get("Retry-After"), attempt))

    def poll(self, status_url: str) -> Manifest:
        """Wait (sleeping in this thread) until the export completes; its manifest."""
        started, attempt = time.monotonic(), 0
        while True:
            answer = self.check(status_url, attempt)
            if isinstance(answer, Manifest):
                return answer
            if time.monotonic() - started + answer.wait > self.poll_total:
                raise FhirServerError("The export did not complete in time.", extra={"waited_s": self.poll_total})
            self.sleep(answer.wait)
            attempt += 1

    def cancel(self, status_url: str) -> None:
        """DELETE the status URL (cancel the export, or let the server delete its files)."""
        with self._send("DELETE", status_url) as response:
            if response.status_code not in (200, 202, 204, 404):
                raise _failure(response, "The export could not be cancelled")

    def download(self, url: str, dest: Path, *, requires_token: bool) -> int:
        """Stream one file to `dest` (kept when already there); its size in bytes."""
        if dest.is_file():
            return dest.stat().st_size
        part = dest.with_name(dest.name + ".part")
        response = self._send(
            "GET", url, headers={"Accept": "application/fhir+ndjson"}, stream=True, authorize=requires_token
        )
        with response:
            if response.status_code != 200:
                raise _failure(response, "The file could not be downloaded")
            size = _stream_to(response, part)
        part.replace(dest)
        return size

    def _wait(self, retry_after: str | None, attempt: int) -> float:
        told = _retry_after_seconds(retry_after)
        backoff = min(self.backoff_cap, 2.0**attempt)
        return min(self.backoff_cap, told) if told is not None else backoff

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        authorize: bool = True,
    ) -> requests.Response:
        """One request; on 401 once more with a fresh token."""
        response = self._request(method, url, params, headers, stream, authorize, fresh=False)
        if response.status_code == 401 and authorize and self._same_origin(url):
            response.close()
            response = self._request(method, url, params, headers, stream, authorize, fresh=True)
        return response

    def _request(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        stream: bool,
        authorize: bool,
        *,
        fresh: bool,
    ) -> requests.Response:
        sent = dict(headers or {})
        if authorize and self._same_origin(url):
            sent["Authorization"] = f"Bearer {self.token(fresh)}"
        try:
            return outbound.session_for(url).request(
                method, url, params=params, headers=sent, stream=True, timeout=_TIMEOUT, allow_redirects=False
            )
        except outbound.AddressRefused as exc:  # an unregistered base on a private or metadata address
            raise FhirRequestRejected(str(exc), extra={"url": url.split("?", 1)[0]}) from exc
        except requests.RequestException as exc:
            raise FhirServerError(
                "The FHIR server could not be reached.",
                extra={"url": url.split("?", 1)[0], "reason": type(exc).__name__},
            ) from exc

    def _same_origin(self, url: str) -> bool:
        ours, theirs = urlsplit(self.base_url), urlsplit(url)
        return (ours.scheme, ours.netloc.lower()) == (theirs.scheme, theirs.netloc.lower())


def _stream_to(response: requests.Response, path: Path) -> int:
    size = 0
    try:
        with path.open("wb") as out:
            for piece in response.iter_content(_PIECE):
                out.write(piece)
                size += len(piece)
    except requests.RequestException as exc:
        raise FhirServerError("The download was interrupted.", extra={"reason": type(exc).__name__}) from exc
    return size


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (RFC 9110: delay-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _outcome(response: requests.Response) -> dict[str, Any]:
    try:
        body = orjson.loads(response.content[:1_000_000])
    except (orjson.JSONDecodeError, requests.RequestException):
        return {}
    return body if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome" else {}


def _transient(response: requests.Response) -> bool:
    """429/5xx the server itself calls transient (or says nothing about): wait and ask again."""
    if not fetch.transient_status(response.status_code):
        return False
    issues = _outcome(response).get("issue") or []
    return not issues or any(i.get("code") == "transient" for i in issues if isinstance(i, dict))


def _failure(response: requests.Response, what: str) -> FhirServerError | FhirRequestRejected:
    """The error for an unexpected answer, with the server's own words when it sent an OperationOutcome."""
    issues = _outcome(response).get("issue") or [{}]
    said = str(issues[0].get("diagnostics") or "") if isinstance(issues[0], dict) else ""
    message = f"{what} (HTTP {response.status_code}{': ' + said[:300] if said else ''})."
    extra = {"upstream_status": response.status_code, "url": response.url.split("?", 1)[0]}
    if fetch.transient_status(response.status_code):
        return FhirServerError(message, extra=extra)
    return FhirRequestRejected(message, extra=extra)
