"""The only module that talks HTTP to FHIR servers (the EHR's or the sandbox's).

Raw JSON in and out over one pooled `requests` session: per-resource model parsing costs 25-55 times
more than decoding (benchmarks/fhir_parsing.py: a 500-Observation Bundle in ~2 ms raw, ~58 ms with
fhirclient's models, ~123 ms with fhir.resources), too slow for the CDS request path, so callers read
the few fields they need and validate what they write.
Every call honours an absolute deadline so a slow EHR degrades an answer instead of hanging it.
Outbound addresses follow `config.outbound`: a base that is not registered is reached only on a public
address (a refusal is FhirRequestRejected, final, made before any connection).
"""

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import orjson
import requests

from config import fetch, outbound
from fhirapp.errors import (
    FhirDeadlineExceeded,
    FhirRequestRejected,
    FhirResponseInvalid,
    FhirResponseTooLarge,
    FhirServerError,
)
from fhirapp.shapes import bundle_matches, bundle_problem

FHIR_JSON = "application/fhir+json"
# A hostile or broken FHIR server must not exhaust our memory: one body, and one search's pages together.
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
MAX_SEARCH_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class FhirClient:
    """A FHIR R4 REST client bound to one server and (optionally) one bearer token."""

    base_url: str
    token: str | None = None
    timeout: float = 10.0
    max_pages: int = 50
    max_response_bytes: int = MAX_RESPONSE_BYTES
    max_search_bytes: int = MAX_SEARCH_BYTES
    registered: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Whether the base is registered is decided once, in the thread that makes the client."""
        object.__setattr__(self, "registered", outbound.is_registered(self.base_url.rstrip("/")))

    def read(self, resource_type: str, resource_id: str, *, deadline: float | None = None) -> dict[str, Any]:
        """GET [base]/[type]/[id]."""
        return self.get(f"{resource_type}/{resource_id}", deadline=deadline)

    def search(
        self, resource_type: str, params: dict[str, str] | None = None, *, deadline: float | None = None
    ) -> list[dict[str, Any]]:
        """Search and follow `next` links; return the matched resources (not included ones)."""
        bundle = self.get(resource_type, params=params, deadline=deadline)
        return self.bundle_resources(bundle, deadline=deadline)

    def search_url(self, relative: str, *, deadline: float | None = None) -> dict[str, Any]:
        """GET a relative query such as `Observation?patient=1&category=vital-signs` (one page)."""
        return self.get(relative, deadline=deadline)

    def bundle_resources(self, bundle: dict[str, Any], *, deadline: float | None = None) -> list[dict[str, Any]]:
        """All `match`-mode resources of a searchset Bundle, following its `next` links.

        More than `max_pages` pages or `max_search_bytes` fetched raises FhirResponseTooLarge (502):
        a silently truncated result would be scored as if it were complete.
        """
        resources: list[dict[str, Any]] = []
        pages, fetched = 0, 0
        while True:
            problem = bundle_problem(bundle)
            if problem is not None:  # its resources are checked one by one where they are used (PatientSnapshot)
                raise FhirResponseInvalid(f"The FHIR server's search result is malformed: {problem}")
            resources += bundle_matches(bundle)
            next_url = next_link(bundle)
            pages += 1
            if not next_url:
                return resources
            if pages >= self.max_pages:
                raise FhirResponseTooLarge(
                    f"The FHIR server's search result has more than {self.max_pages} pages.",
                    extra={"url": _safe_url(next_url), "max_pages": self.max_pages},
                )
            bundle, size = self._exchange("GET", next_url, deadline=deadline)
            fetched += size
            if fetched > self.max_search_bytes:
                raise FhirResponseTooLarge(
                    "The FHIR server's search result is larger than we accept.",
                    extra={"url": _safe_url(next_url), "max_bytes": self.max_search_bytes},
                )

    def transaction(self, bundle: dict[str, Any], *, deadline: float | None = None) -> dict[str, Any]:
        """POST a batch/transaction Bundle to the base URL."""
        return self.request("POST", "", body=bundle, deadline=deadline)

    def get(self, path: str, *, params: dict[str, str] | None = None, deadline: float | None = None) -> dict[str, Any]:
        """GET a path relative to the base (or an absolute URL on the same server)."""
        return self.request("GET", path, params=params, deadline=deadline)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """One HTTP exchange with deadline, error mapping and JSON decoding."""
        return self._exchange(method, path, params=params, body=body, headers=headers, deadline=deadline)[0]

    def _exchange(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        deadline: float | None = None,
    ) -> tuple[dict[str, Any], int]:
        """The decoded JSON object and the body's size in bytes (read in chunks, capped, within the deadline)."""
        url = self._url(path)
        timeout = self._timeout(deadline, url)
        try:
            response = outbound.session_for(url, registered=self.registered).request(
                method,
                url,
                params=params,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
                data=orjson.dumps(body) if body is not None else None,
                headers=self._headers(headers, has_body=body is not None),
            )
            with response:
                content = self._read_body(response, url, deadline)
        except outbound.AddressRefused as exc:
            raise FhirRequestRejected(
                "Refusing to connect to a non-public address that is not registered.",
                extra={"url": _safe_url(url), "address": exc.address},
            ) from exc
        except requests.Timeout as exc:
            raise FhirDeadlineExceeded(extra={"url": _safe_url(url)}) from exc
        except requests.RequestException as exc:
            if deadline is not None and time.monotonic() >= deadline:  # e.g. a read timeout mid-body
                raise FhirDeadlineExceeded(extra={"url": _safe_url(url)}) from exc
            raise FhirServerError(
                "The FHIR server could not be reached.", extra={"url": _safe_url(url), "reason": type(exc).__name__}
            ) from exc
        return _decode(response.status_code, content, url), len(content)

    def _read_body(self, response: requests.Response, url: str, deadline: float | None) -> bytes:
        """The body, refused above `max_response_bytes` and abandoned when the deadline passes mid-body."""
        try:
            return fetch.body_read(response, max_bytes=self.max_response_bytes, deadline=deadline)
        except fetch.FetchTooLarge as exc:
            raise FhirResponseTooLarge(extra={"url": _safe_url(url), "max_bytes": self.max_response_bytes}) from exc
        except fetch.FetchTimedOut as exc:
            raise FhirDeadlineExceeded(extra={"url": _safe_url(url)}) from exc

    def _url(self, path: str) -> str:
        """An absolute URL under `base_url`; anything resolving elsewhere (another host, scheme or path) is refused."""
        base = self.base_url.rstrip("/")
        absolute = path.strip().lower().startswith(("http://", "https://"))
        url = path.strip() if absolute else urljoin(base + "/", path.lstrip("/"))
        if not outbound.url_under(url, base):
            raise FhirRequestRejected("Refusing to follow a link to another server.", extra={"url": _safe_url(url)})
        return url

    def _timeout(self, deadline: float | None, url: str) -> float:
        if deadline is None:
            return self.timeout
        remaining = deadline - time.monotonic()
        if remaining <= 0.001:
            raise FhirDeadlineExceeded(extra={"url": _safe_url(url)})
        return min(self.timeout, remaining)

    def _headers(self, extra: dict[str, str] | None, *, has_body: bool) -> dict[str, str]:
        headers = {"Accept": FHIR_JSON}
        if has_body:
            headers["Content-Type"] = FHIR_JSON
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(extra or {})
        return headers


def next_link(bundle: dict[str, Any]) -> str | None:
    """The `next` link of a Bundle, if any."""
    for link in bundle.get("link") or ():  # null is as absent (a Bundle checked by fhirapp.shapes)
        if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
            return str(link["url"])
    return None


def _safe_url(url: str) -> str:
    """The URL without its query (queries can hold patient identifiers)."""
    return url.split("?", 1)[0]


def _decode(status: int, content: bytes, url: str) -> dict[str, Any]:
    try:
        payload = orjson.loads(content) if content else {}
    except orjson.JSONDecodeError:
        payload = {}
    extra = {"upstream_status": status, "url": _safe_url(url)}
    if isinstance(payload, dict) and payload.get("resourceType") == "OperationOutcome" and status >= 400:
        extra["operation_outcome"] = payload
    if fetch.transient_status(status):
        raise FhirServerError(extra=extra)
    if status >= 400:
        raise FhirRequestRejected(extra=extra)
    if status >= 300:
        raise FhirRequestRejected("The FHIR server answered with a redirect.", extra=extra)
    if not isinstance(payload, dict):
        raise FhirServerError("The FHIR server did not return a JSON object.", extra=extra)
    return payload
