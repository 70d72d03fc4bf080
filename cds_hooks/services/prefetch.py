"""Prefetch-or-fetch: turn a CDS request's prefetch (and, for what is missing, its FHIR server) into resources.

Spec: https://cds-hooks.hl7.org/2.0/#providing-fhir-resources-to-a-cds-service. Per template key:
- a resource or searchset Bundle: used as is (raw JSON, no per-resource validation on this path);
  a Bundle with a `next` link (not allowed in prefetch, sent anyway by some clients) has its other
  pages fetched when we may talk to the FHIR server, else it is used and noted as incomplete;
- `null`: the client has no data for it (satisfied, nothing to fetch);
- absent, or an OperationOutcome (the client's query failed): fetched from `fhirServer` with the
  `fhirAuthorization` bearer token, all keys in parallel, inside an absolute deadline.
When a key is neither prefetched nor fetchable (no fhirServer/fhirAuthorization) the service answers
412 (`FhirDataUnavailable`). A fetch that fails or misses the deadline makes the key `unavailable`:
the caller then answers "not scored" naming that data instead of hanging the EHR.
"""
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from config.errors import FhirDataUnavailable
from fhirapp.client import FhirClient, next_link
from fhirapp.errors import FhirRequestRejected, UpstreamFhirError

_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="cds-fetch")


@dataclass(frozen=True, slots=True)
class PrefetchTemplate:
    """One prefetch key of a service: its template and how to read what it returns."""

    key: str
    template: str  # e.g. "Observation?patient={{context.patientId}}&category=vital-signs&_sort=-date"
    label: str  # what a clinician calls this data, e.g. "vital signs"
    lookback_hours: float | None = None  # Observation window added to our own searches


@dataclass(slots=True)
class ResolvedData:
    """The resources found for a call, where each key's data came from, and what could not be had."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # key -> prefetch | prefetch-null | fetched | ...
    unavailable: dict[str, str] = field(default_factory=dict)  # key -> reason (failed or too slow)
    incomplete: list[str] = field(default_factory=list)  # keys whose paged Bundle could not be completed


def fill_tokens(template: str, context: Mapping[str, Any]) -> str | None:
    """Replace `{{context.x}}` prefetch tokens; None when a token has no primitive value in context."""
    out, rest = [], template
    while "{{" in rest:
        head, _, tail = rest.partition("{{")
        token, _, rest = tail.partition("}}")
        name = token.strip().removeprefix("context.")
        value = context.get(name)
        if not isinstance(value, (str, int)) or value == "":
            return None
        out += [head, quote(str(value), safe="")]  # a no-op for FHIR ids; stops `&`, `/`, `..` injection
    return "".join([*out, rest])


def data_resolve(*, templates: Sequence[PrefetchTemplate], context: Mapping[str, Any],
                 prefetch: Mapping[str, Any] | None, client: FhirClient | None, deadline: float,
                 as_of: datetime) -> ResolvedData:
    """Prefetched data first, then fetch what is missing in parallel before `deadline` (time.monotonic())."""
    resolved, to_fetch = ResolvedData(), {}
    prefetch = prefetch or {}
    for tpl in templates:
        value = prefetch.get(tpl.key, _ABSENT)
        if value is None:
            resolved.sources[tpl.key] = "prefetch-null"
        elif isinstance(value, dict) and value.get("resourceType") not in (None, "OperationOutcome"):
            _take_prefetched(resolved, tpl, value, client, deadline)
        else:
            to_fetch[tpl.key] = tpl
    if to_fetch:
        if client is None:
            raise FhirDataUnavailable(extra={"prefetch_missing": sorted(to_fetch)})
        _fetch_all(resolved, to_fetch, context, client, deadline, as_of)
    resolved.resources = _unique(resolved.resources)
    return resolved


def _unique(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop repeats of a resource returned by two templates (e.g. a lab found by category and by code)."""
    seen: set[tuple[Any, Any]] = set()
    out = []
    for r in resources:
        key = (r.get("resourceType"), r.get("id"))
        if key[1] is None or key not in seen:
            seen.add(key)
            out.append(r)
    return out


_ABSENT = object()


def _take_prefetched(resolved: ResolvedData, tpl: PrefetchTemplate, value: dict[str, Any],
                     client: FhirClient | None, deadline: float) -> None:
    resolved.sources[tpl.key] = "prefetch"
    if value.get("resourceType") != "Bundle":
        resolved.resources.append(value)
        return
    resolved.resources += _entries(value)
    if next_link(value) is None:
        return
    if client is None:
        resolved.incomplete.append(tpl.key)
        return
    try:  # the remaining pages of a paged prefetch Bundle (the first page is already taken)
        resolved.resources += client.bundle_resources(client.get(next_link(value) or "", deadline=deadline),
                                                      deadline=deadline)
        resolved.sources[tpl.key] = "prefetch+fetched"
    except UpstreamFhirError as exc:
        resolved.unavailable[tpl.key] = _reason(exc)


def _entries(bundle: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry") or ()
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)
            and (e.get("search") or {}).get("mode", "match") == "match"]


def _fetch_all(resolved: ResolvedData, to_fetch: dict[str, PrefetchTemplate], context: Mapping[str, Any],
               client: FhirClient, deadline: float, as_of: datetime) -> None:
    futures: dict[str, Future[list[dict[str, Any]]]] = {}
    for key, tpl in to_fetch.items():
        query = fill_tokens(tpl.template, context)
        if query is None:  # e.g. an Encounter template without encounterId in context: nothing to fetch
            resolved.sources[key] = "not-applicable"
            continue
        futures[key] = _POOL.submit(_fetch_one, client, _with_window(query, tpl, as_of), deadline)
    wait(futures.values(), timeout=max(0.0, deadline - time.monotonic()))
    for key, future in futures.items():
        _collect(resolved, key, future, deadline)


def _collect(resolved: ResolvedData, key: str, future: Future[list[dict[str, Any]]], deadline: float) -> None:
    try:
        resolved.resources += future.result(timeout=max(0.0, deadline - time.monotonic()))
        resolved.sources[key] = "fetched"
    except TimeoutError:
        future.cancel()
        resolved.unavailable[key] = "not answered in time"
    except UpstreamFhirError as exc:
        resolved.unavailable[key] = _reason(exc)


def _fetch_one(client: FhirClient, query: str, deadline: float) -> list[dict[str, Any]]:
    """One read (`Type/id`) or search (`Type?...`, all pages) against the FHIR server."""
    if "?" not in query:
        try:
            resource = client.get(query, deadline=deadline)
        except FhirRequestRejected as exc:
            if exc.upstream_status in (404, 410):  # no such resource: no data, not an error
                return []
            raise
        return [resource] if resource.get("resourceType") not in (None, "OperationOutcome") else []
    return client.bundle_resources(client.get(query, deadline=deadline), deadline=deadline)


def _with_window(query: str, tpl: PrefetchTemplate, as_of: datetime) -> str:
    """Our own Observation searches are bounded by the model's look-back (templates cannot carry dates)."""
    if tpl.lookback_hours is None or "date=" in query:
        return query
    start = (as_of - timedelta(hours=tpl.lookback_hours)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{query}&date=ge{start}"


def _reason(exc: UpstreamFhirError) -> str:
    status = exc.extra.get("upstream_status")
    return f"{exc.message} (HTTP {status})" if status else exc.message
