"""The one patient-data path: a fetch plan from the models' requirements, and `snapshot_fetch`.

`fetch_plan` turns what models declare they read into FHIR queries (they are also the CDS services'
prefetch templates). `snapshot_fetch` takes what the EHR already sent (CDS prefetch) and fetches the rest
from its FHIR server, all keys in parallel inside an absolute deadline, into a `PatientSnapshot`.

Prefetch handling follows https://cds-hooks.hl7.org/2.0/#providing-fhir-resources-to-a-cds-service. Per key:
- a resource or searchset Bundle: used as is (raw JSON, no per-resource validation on this path);
  a Bundle with a `next` link (not allowed in prefetch, sent anyway by some clients) has its other
  pages fetched when we may talk to the FHIR server, else it is used and noted as incomplete;
- `null`: the client has no data for it (satisfied, nothing to fetch);
- absent, or an OperationOutcome (the client's query failed): fetched from the FHIR server.
When a key is neither prefetched nor fetchable (no FHIR access) the call raises `FhirDataUnavailable`
(412 for CDS Hooks). A fetch that fails or misses the deadline makes the key `unavailable`: the door then
says "not scored" naming that data instead of hanging.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from config.errors import FhirDataUnavailable, ValidationFailed
from config.fhir_json import Requirements
from fhirapp.client import FhirClient, next_link
from fhirapp.errors import FhirDeadlineExceeded, FhirRequestRejected, UpstreamFhirError
from fhirapp.shapes import bundle_matches, bundle_problem
from fhirapp.snapshot import PatientSnapshot, Resource

_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="fhir-fetch")
PATIENT_TOKEN = "{{context.patientId}}"  # noqa: S105 - a CDS Hooks prefetch token, not a secret
_CATEGORY_KEYS = {"vital-signs": ("vitals", "vital signs"), "laboratory": ("labs", "laboratory results")}
_OTHER_TYPES = (
    ("Condition", "conditions", "conditions"),
    ("MedicationRequest", "medications", "medication orders"),
    ("Procedure", "procedures", "procedures"),
)


@dataclass(frozen=True, slots=True)
class FhirQuery:
    """One key of a fetch plan: its query template and how to name its data."""

    key: str
    template: str  # e.g. "Observation?patient={{context.patientId}}&category=vital-signs&_sort=-date"
    label: str  # what a clinician calls this data, e.g. "vital signs"
    lookback_hours: float | None = None  # window our own searches add (templates cannot carry dates)


def fetch_plan(requirements: Iterable[Requirements]) -> tuple[FhirQuery, ...]:
    """The queries that fetch everything `requirements` read, each window the longest any of them needs.

    Observations are asked for per category (vital-signs, laboratory), newest first, plus the few codes of
    no category by code (e.g. GCS, HbA1c). Prefetch templates cannot carry a date (tokens are context fields
    only, spec "Prefetch tokens"), so our own searches add the look-back (`FhirQuery.lookback_hours`).
    """
    reqs = list(requirements)
    types = {t for r in reqs for t in r.resource_types}
    out = [FhirQuery("patient", f"Patient/{PATIENT_TOKEN}", "patient demographics")]
    if "Observation" in types:
        out += _observation_queries(reqs)
    if "Encounter" in types:
        hours = max(max(r.encounter_hours, r.lookback_hours) for r in reqs if "Encounter" in r.resource_types)
        out.append(
            FhirQuery(
                "encounters",
                f"Encounter?patient={PATIENT_TOKEN}&_sort=-date&_count=100",
                "encounters",
                lookback_hours=hours,
            )
        )
    out += [
        FhirQuery(key, f"{rtype}?patient={PATIENT_TOKEN}", label)
        for rtype, key, label in _OTHER_TYPES
        if rtype in types
    ]
    return tuple(out)


def _observation_queries(reqs: list[Requirements]) -> list[FhirQuery]:
    hours: dict[str, float] = {}
    codes: dict[str, float] = {}
    for r in reqs:
        for category in r.observation_categories:
            hours[category] = max(hours.get(category, 0.0), r.lookback_hours)
        for code in r.observation_codes:
            codes[code] = max(codes.get(code, 0.0), r.lookback_hours)
    out = [
        FhirQuery(
            _CATEGORY_KEYS[c][0] if c in _CATEGORY_KEYS else c,
            f"Observation?patient={PATIENT_TOKEN}&category={c}&_sort=-date&_count=1000",
            _CATEGORY_KEYS[c][1] if c in _CATEGORY_KEYS else c,
            lookback_hours=hours[c],
        )
        for c in sorted(hours, reverse=True)
    ]
    if codes:
        out.append(
            FhirQuery(
                "other-observations",
                f"Observation?patient={PATIENT_TOKEN}&code={','.join(codes)}&_sort=-date",
                "other observations",
                lookback_hours=max(codes.values()),
            )
        )
    return out


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


def snapshot_fetch(
    *,
    plan: Iterable[FhirQuery],
    patient_id: str,
    context: Mapping[str, Any],
    client: FhirClient | None,
    deadline: float,
    as_of: datetime,
    prefetch: Mapping[str, Any] | None = None,
    checked: frozenset[str] = frozenset(),
) -> PatientSnapshot:
    """Prefetched data first, then fetch what is missing in parallel before `deadline` (time.monotonic()).
    `checked`: the prefetch keys whose values were read into checked shapes (`fhirapp.shapes.prefetch_value_decode`),
    not checked again."""
    snapshot, to_fetch = PatientSnapshot(patient_id=patient_id, as_of=as_of), {}
    received = datetime.now(UTC)
    for query in plan:
        value = (prefetch or {}).get(query.key, _ABSENT)
        if value is None:
            snapshot.sources[query.key] = "prefetch-null"
        elif _prefetched(query.key, value, query.key in checked):
            _take_prefetched(snapshot, query, value, client, deadline, received, query.key in checked)
        else:
            to_fetch[query.key] = query
    if to_fetch:
        if client is None:
            raise FhirDataUnavailable(extra={"prefetch_missing": sorted(to_fetch)})
        _fetch_all(snapshot, to_fetch, context, client, deadline)
    return snapshot


_ABSENT = object()


def _prefetched(key: str, value: Any, checked: bool) -> bool:
    """True for a usable prefetched resource or Bundle; False for absent or an OperationOutcome (then fetched).

    Anything else is a malformed request (400 naming the prefetch key): a value that is not an object, or a
    Bundle whose entries or links are not shaped as FHIR says. A malformed resource inside a usable Bundle is
    set aside by the snapshot with a note instead.
    """
    if value is _ABSENT:
        return False
    if checked:  # a resource or a Bundle, read into its shape already (`fhirapp.shapes.prefetch_value_decode`)
        return value.get("resourceType") not in (None, "OperationOutcome")
    problem = (
        f"not a JSON object ({type(value).__name__})"
        if not isinstance(value, dict)
        else (bundle_problem(value) if value.get("resourceType") == "Bundle" else None)
    )
    if problem is not None:
        raise ValidationFailed(
            f"prefetch.{key[:60]} is not a FHIR resource, Bundle or null: {problem}",
            extra={"path": f"prefetch.{key[:60]}"},
        )
    return value.get("resourceType") not in (None, "OperationOutcome")


def _take_prefetched(
    snapshot: PatientSnapshot,
    query: FhirQuery,
    value: dict[str, Any],
    client: FhirClient | None,
    deadline: float,
    received: datetime,
    checked: bool,
) -> None:
    snapshot.sources[query.key] = "prefetch"
    # Prefetch arrives in the request body, which config.middleware.RejectNulMiddleware has searched for NUL
    # (a body holding one is refused whole, 400): the snapshot need not search it again.
    resources = [value] if value.get("resourceType") != "Bundle" else bundle_matches(value)
    snapshot.add(
        resources,
        key=query.key,
        source="prefetch",
        received_at=received,
        nul_searched=True,
        checked=checked,
    )
    if value.get("resourceType") != "Bundle":
        return
    if next_link(value) is None:
        return
    if client is None:
        snapshot.incomplete.append(query.key)
        return
    try:  # the remaining pages of a paged prefetch Bundle (the first page is already taken)
        more = client.bundle_resources(client.get(next_link(value) or "", deadline=deadline), deadline=deadline)
        snapshot.add(more, key=query.key, source="fetched", received_at=datetime.now(UTC))
        snapshot.sources[query.key] = "prefetch+fetched"
    except UpstreamFhirError as exc:
        _failed(snapshot, query.key, exc)


def _fetch_all(
    snapshot: PatientSnapshot,
    to_fetch: dict[str, FhirQuery],
    context: Mapping[str, Any],
    client: FhirClient,
    deadline: float,
) -> None:
    futures: dict[str, Future[list[Resource]]] = {}
    for key, query in to_fetch.items():
        filled = fill_tokens(query.template, context)
        if filled is None:  # e.g. a template needing encounterId without one in context: nothing to fetch
            snapshot.sources[key] = "not-applicable"
            continue
        futures[key] = _POOL.submit(_fetch_one, client, _with_window(filled, query, snapshot.as_of), deadline)
    wait(futures.values(), timeout=max(0.0, deadline - time.monotonic()))
    for key, future in futures.items():
        _collect(snapshot, key, future, deadline)


def _collect(snapshot: PatientSnapshot, key: str, future: Future[list[Resource]], deadline: float) -> None:
    try:
        found = future.result(timeout=max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        future.cancel()
        snapshot.unavailable[key] = "the EHR did not answer before the call's deadline"
        return
    except UpstreamFhirError as exc:
        _failed(snapshot, key, exc)
        return
    snapshot.add(found, key=key, source="fetched", received_at=datetime.now(UTC))
    snapshot.sources[key] = "fetched"


def _failed(snapshot: PatientSnapshot, key: str, exc: UpstreamFhirError) -> None:
    snapshot.unavailable[key] = failure_reason(exc)
    snapshot.errors[key] = exc


def failure_reason(exc: UpstreamFhirError) -> str:
    """Why the EHR's data could not be had, in words that name the real cause."""
    status = exc.extra.get("upstream_status")
    if isinstance(exc, FhirRequestRejected) and status in (401, 403):
        return f"the EHR refused our access token (HTTP {status})"
    if isinstance(exc, FhirDeadlineExceeded):
        return "the EHR did not answer before the call's deadline"
    if isinstance(exc, FhirRequestRejected):
        return f"the EHR rejected the request ({exc.message.rstrip('.')}{f', HTTP {status}' if status else ''})"
    if status:
        return f"the EHR's FHIR server failed (HTTP {status})"
    return f"the EHR's FHIR server could not be reached ({exc.message.rstrip('.')})"


def _fetch_one(client: FhirClient, query: str, deadline: float) -> list[Resource]:
    """One read (`Type/id`) or search (`Type?...`, all pages) against the FHIR server."""
    if "?" not in query:
        try:
            resource = client.get(query, deadline=deadline)
        except FhirRequestRejected as exc:
            if exc.upstream_status in (404, 410):  # no such resource: no data, not an error
                return []
            raise
        return [resource] if resource.get("resourceType") != "OperationOutcome" else []
    return client.bundle_resources(client.get(query, deadline=deadline), deadline=deadline)


def _with_window(query: str, plan_query: FhirQuery, as_of: datetime) -> str:
    """Our own searches are bounded by the models' look-back (templates cannot carry dates)."""
    if plan_query.lookback_hours is None or "date=" in query:
        return query
    start = (as_of - timedelta(hours=plan_query.lookback_hours)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{query}&date=ge{start}"
