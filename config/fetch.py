"""One size- and time-limited HTTP GET for small JSON documents a peer publishes (JWKS, SMART styles).

A JWKS URL or a style URL is named by a peer we only partly trust: a body of any size, or one that
trickles in forever, must not exhaust our memory or hold a worker. The body is streamed in chunks,
refused past `max_bytes` (declared or actual) and abandoned when the overall deadline passes, so
`timeout` bounds the whole exchange, not just each socket read. Redirects are not followed, and the
address policy of `config.outbound` applies (a URL that is not registered must resolve to public addresses).
FhirClient reads its bodies with the same `body_read`.
"""

import time
from typing import Any

import orjson
import requests

from config import outbound

DEFAULT_MAX_BYTES = 1024 * 1024
DEFAULT_TIMEOUT_SECONDS = 5.0
_CHUNK_BYTES = 64 * 1024
# 4xx answers about the moment, not the request (RFC 9110 408 Request Timeout, RFC 6585 429 Too Many
# Requests): the same request may succeed later, like after a 5xx.
TRANSIENT_4XX = frozenset({408, 429})


class FetchFailed(Exception):
    """The document could not be fetched or is not a JSON object; `transient` when a later try may work."""

    def __init__(self, reason: str, *, status: int | None = None, transient: bool = False) -> None:
        self.reason, self.status, self.transient = reason, status, transient
        super().__init__(reason)


class FetchTooLarge(FetchFailed):
    """The body is larger than the caller accepts."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"body larger than {max_bytes} bytes")


class FetchTimedOut(FetchFailed):
    """The exchange did not finish before its deadline."""

    def __init__(self) -> None:
        super().__init__("deadline exceeded", transient=True)


def transient_status(status: int) -> bool:
    """Whether an HTTP error status is worth a retry later (5xx, 408, 429)."""
    return status >= 500 or status in TRANSIENT_4XX


def body_read(response: requests.Response, *, max_bytes: int, deadline: float | None) -> bytes:
    """A streamed response's body: FetchTooLarge past `max_bytes`, FetchTimedOut past `deadline` (monotonic)."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchTooLarge(max_bytes)
    chunks, size = [], 0
    for chunk in response.iter_content(_CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise FetchTooLarge(max_bytes)
        if deadline is not None and time.monotonic() > deadline:
            raise FetchTimedOut()
        chunks.append(chunk)
    return b"".join(chunks)


def bytes_fetch(
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    accept: str = "application/json",
    registered: bool | None = None,
) -> bytes:
    """GET `url` and return its 2xx body, finished within `timeout` seconds in all; raises FetchFailed.

    `registered`: whether `url` may be on a non-public address (default: `outbound.is_registered(url)`).
    """
    deadline = time.monotonic() + timeout
    try:
        response = outbound.session_for(url, registered=registered).get(
            url, timeout=timeout, stream=True, allow_redirects=False, headers={"Accept": accept}
        )
        with response:
            if not 200 <= response.status_code < 300:
                raise FetchFailed(
                    f"HTTP {response.status_code}",
                    status=response.status_code,
                    transient=transient_status(response.status_code),
                )
            return body_read(response, max_bytes=max_bytes, deadline=deadline)
    except outbound.AddressRefused as exc:
        raise FetchFailed(f"address refused: {exc.address}") from exc
    except requests.RequestException as exc:  # a read timeout mid-body arrives as a ConnectionError
        if isinstance(exc, requests.Timeout) or time.monotonic() >= deadline:
            raise FetchTimedOut() from exc
        raise FetchFailed(type(exc).__name__, transient=True) from exc


def json_fetch(
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    registered: bool | None = None,
) -> dict[str, Any]:
    """The JSON object at `url` (see bytes_fetch); FetchFailed when the body is not a JSON object."""
    return json_object(bytes_fetch(url, timeout=timeout, max_bytes=max_bytes, registered=registered))


def json_object(raw: bytes) -> dict[str, Any]:
    """Decode a body that must be a JSON object; raises FetchFailed otherwise."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FetchFailed("not JSON") from exc
    if not isinstance(document, dict):
        raise FetchFailed("not a JSON object")
    return document
