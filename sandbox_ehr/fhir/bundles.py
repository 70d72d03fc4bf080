"""Batch and transaction Bundles (FHIR R4 http.html#transaction).

A transaction is all-or-nothing in one database transaction: ids are assigned first (POST gets a new
id, PUT and PATCH keep the URL's, a conditional create that matches keeps the match's), DELETE entries
are applied first (R4 transaction order), PATCH entries (a JSON Patch in a Binary, http.html#patch)
are applied to the current versions, `urn:uuid:` and other fullUrl references are rewritten to
`Type/id`, every resource is validated, then all resources are stored in bulk; any error rolls
everything back and answers one OperationOutcome. A batch runs each entry on its own and reports each
entry's outcome. A DELETE entry answers "204 No Content" like DELETE [type]/[id], whether or not it deleted.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from django.db import transaction

from config.errors import ApplicationError
from sandbox_ehr.fhir.errors import InvalidResource, PreconditionFailed, UnsupportedInteraction
from sandbox_ehr.fhir.models import FhirResource
from sandbox_ehr.fhir.outcomes import exception_outcome
from sandbox_ehr.fhir.patch import binary_patch
from sandbox_ehr.fhir.permissions import Grant, scope_require
from sandbox_ehr.fhir.references import rewrite_references
from sandbox_ehr.fhir.selectors import resource_read, resource_search
from sandbox_ehr.fhir.services import (
    conditional_matches,
    delete_apply,
    id_check,
    new_id,
    patch_scope_require,
    patched_write,
    stored_check,
)
from sandbox_ehr.fhir.store import Stored, Write, resources_store
from sandbox_ehr.fhir.validation import etag_version, resource_type_check, resource_validate

_STATUS_TEXT = {200: "200 OK", 201: "201 Created"}


@dataclass
class Planned:
    """One Bundle entry after its id was decided."""

    index: int
    method: str
    resource_type: str = ""
    resource_id: str = ""
    resource: dict[str, Any] | None = None
    full_url: str = ""
    url: str = ""
    matched: bool = False
    if_match: int | None = None
    patch: list[Any] | None = None


@contextmanager
def _at_entry(index: int) -> Iterator[None]:
    """Prefix errors with the entry they come from."""
    try:
        yield
    except ApplicationError as exc:
        exc.message = f"Bundle entry {index}: {exc.message}"
        exc.extra.setdefault("entry", index)
        raise


def _relative(url: str, base_url: str) -> str:
    url = url.strip()
    if url.startswith(base_url + "/"):
        url = url[len(base_url) + 1 :]
    return url.lstrip("/")


def _plan_write(planned: Planned, entry: dict[str, Any], request: dict[str, Any], grant: Grant | None) -> None:
    resource = entry.get("resource")
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise InvalidResource(f"{planned.method} needs a resource.")
    if resource["resourceType"] != planned.resource_type:
        raise InvalidResource(f"The resource is a {resource['resourceType']}, the URL names {planned.resource_type}.")
    planned.resource = resource
    if planned.method == "POST":
        scope_require(grant, planned.resource_type, "create")
        planned.resource_id = new_id()
        if request.get("ifNoneExist"):
            matches = conditional_matches(planned.resource_type, str(request["ifNoneExist"]), grant)
            if len(matches) > 1:
                raise PreconditionFailed(f"ifNoneExist matched more than one {planned.resource_type}.")
            if matches:
                planned.resource_id, planned.matched = matches[0], True
    else:
        scope_require(grant, planned.resource_type, "update")
        if resource.get("id", planned.resource_id) != planned.resource_id:
            raise InvalidResource("The resource id must equal the id in the request URL.")
        planned.if_match = etag_version(request.get("ifMatch"), "request.ifMatch")
    planned.resource = {**resource, "id": planned.resource_id}


def _plan(index: int, entry: Any, grant: Grant | None, base_url: str) -> Planned:
    """Check one entry's request and decide its id."""
    request = entry.get("request") if isinstance(entry, dict) else None
    if not isinstance(request, dict) or not request.get("method") or not request.get("url"):
        raise InvalidResource("Every entry needs request.method and request.url.")
    method = str(request["method"]).upper()
    planned = Planned(
        index=index,
        method=method,
        full_url=str(entry.get("fullUrl") or ""),
        url=_relative(str(request["url"]), base_url),
    )
    if method == "GET":
        return planned
    if method not in ("POST", "PUT", "PATCH", "DELETE"):
        raise UnsupportedInteraction(
            f"The method {method} is not supported in Bundles (GET, POST, PUT, PATCH, DELETE are)."
        )
    path = planned.url.split("?", 1)
    if len(path) > 1:
        raise UnsupportedInteraction(
            "Conditional update/create/delete/patch by URL query is not supported"
            " (use ifNoneExist for a conditional create)."
        )
    parts = path[0].split("/")
    if (method == "POST" and len(parts) != 1) or (method != "POST" and len(parts) != 2):
        raise InvalidResource(f"'{planned.url}' is not a valid {method} URL.")
    planned.resource_type = parts[0]
    resource_type_check(planned.resource_type)
    if method != "POST":
        planned.resource_id = parts[1]
        id_check(planned.resource_id)
    if method == "DELETE":
        scope_require(grant, planned.resource_type, "delete")
        planned.if_match = etag_version(request.get("ifMatch"), "request.ifMatch")
    elif method == "PATCH":
        patch_scope_require(grant, planned.resource_type)
        planned.patch = binary_patch(entry.get("resource"))
        planned.if_match = etag_version(request.get("ifMatch"), "request.ifMatch")
    else:
        _plan_write(planned, entry, request, grant)
    return planned


def _prepare(planned: Planned, mapping: dict[str, str], grant: Grant | None) -> None:
    """The resource to store: a PATCH applied to the current version, validated, references rewritten."""
    if planned.method == "PATCH":
        write = patched_write(
            resource_type=planned.resource_type,
            resource_id=planned.resource_id,
            operations=planned.patch or [],
            grant=grant,
            if_match=planned.if_match,
        )
        planned.resource, planned.if_match = write.resource, write.if_match
    resource_validate(planned.resource)  # first: it also bounds the nesting rewrite_references recurses into
    planned.resource = rewrite_references(planned.resource, mapping)


def _write_response(stored: Stored, base_url: str, representation: bool) -> dict[str, Any]:
    key = f"{stored.resource_type}/{stored.resource_id}"
    entry: dict[str, Any] = {
        "fullUrl": f"{base_url}/{key}",
        "response": {
            "status": _STATUS_TEXT[201 if stored.created else 200],
            "location": f"{key}/_history/{stored.version_id}",
            "etag": f'W/"{stored.version_id}"',
            "lastModified": stored.last_updated.isoformat().replace("+00:00", "Z"),
        },
    }
    if representation:
        entry["resource"] = stored.resource
    return entry


def _delete_entry(row: FhirResource | None) -> dict[str, Any]:
    response = {"status": "204 No Content"}
    if row is not None:
        response["etag"] = f'W/"{row.version_id}"'
    return {"response": response}


def _delete(p: Planned, grant: Grant | None) -> dict[str, Any]:
    """Apply one DELETE entry (inside the caller's transaction) and answer its response entry."""
    row = delete_apply(resource_type=p.resource_type, resource_id=p.resource_id, grant=grant, if_match=p.if_match)
    return _delete_entry(row)


def _unique_targets(plans: list[Planned]) -> None:
    """400 when a transaction names one resource twice (R4 http.html#trules: it may appear only once)."""
    seen: set[tuple[str, str]] = set()
    for p in plans:
        key = (p.resource_type, p.resource_id)
        if p.method != "GET" and not p.matched and key in seen:
            raise InvalidResource(
                f"Bundle entry {p.index}: {key[0]}/{key[1]} appears more than once in the transaction.",
                extra={"entry": p.index},
            )
        seen.add(key)


def _get_response(planned: Planned, grant: Grant | None, base_url: str) -> dict[str, Any]:
    path, _, query = planned.url.partition("?")
    parts = path.split("/")
    resource_type_check(parts[0])
    if len(parts) == 1:
        body = resource_search(grant=grant, resource_type=parts[0], params=parse_qsl(query), base_url=base_url)
        return {"resource": orjson.loads(body), "response": {"status": "200 OK"}}
    if len(parts) in (2, 4) and (len(parts) == 2 or parts[2] == "_history"):
        row, content = resource_read(
            grant=grant, resource_type=parts[0], resource_id=parts[1], version_id=parts[3] if len(parts) == 4 else None
        )
        return {
            "fullUrl": f"{base_url}/{parts[0]}/{parts[1]}",
            "resource": orjson.loads(content),
            "response": {"status": "200 OK", "etag": f'W/"{row.version_id}"'},
        }
    raise UnsupportedInteraction(f"GET {urlsplit(planned.url).path} is not supported in Bundles.")


def _error_entry(exc: ApplicationError) -> dict[str, Any]:
    status, outcome = exception_outcome(exc)
    return {"response": {"status": str(status), "outcome": outcome}}


def _transaction(entries: list[Any], grant: Grant | None, base_url: str, representation: bool) -> list[dict[str, Any]]:
    with transaction.atomic():
        plans = []
        for i, entry in enumerate(entries):
            with _at_entry(i):
                plans.append(_plan(i, entry, grant, base_url))
        _unique_targets(plans)
        responses: dict[int, dict[str, Any]] = {}
        for p in plans:
            if p.method == "DELETE":
                with _at_entry(p.index):
                    responses[p.index] = _delete(p, grant)
        writes = [p for p in plans if p.method in ("POST", "PUT", "PATCH")]
        mapping = {p.full_url: f"{p.resource_type}/{p.resource_id}" for p in writes if p.full_url}
        for p in writes:
            if not p.matched:
                with _at_entry(p.index):
                    _prepare(p, mapping, grant)
        to_store = [p for p in writes if not p.matched]
        stored = dict(
            zip(
                [p.index for p in to_store],
                resources_store([Write(p.resource or {}, p.if_match) for p in to_store]),
                strict=True,
            )
        )
        stored_check(list(stored.values()), grant)
        for p in plans:
            if p.method == "DELETE":
                continue
            with _at_entry(p.index):
                responses[p.index] = _planned_response(p, stored.get(p.index), grant, base_url, representation)
    return [responses[i] for i in range(len(plans))]


def _planned_response(
    p: Planned, stored: Stored | None, grant: Grant | None, base_url: str, representation: bool
) -> dict[str, Any]:
    if p.method == "GET":
        return _get_response(p, grant, base_url)
    if stored is None:  # conditional create matched: answer with the existing resource
        row, content = resource_read(grant=grant, resource_type=p.resource_type, resource_id=p.resource_id)
        stored = Stored(
            row.resource_type,
            row.resource_id,
            row.version_id,
            row.last_updated,
            content,
            created=False,
            changed=False,
            patient_id=row.patient_id,
        )
    return _write_response(stored, base_url, representation)


def _batch_entry(
    i: int, entry: Any, mapping: dict[str, str], grant: Grant | None, base_url: str, representation: bool
) -> dict[str, Any]:
    with transaction.atomic(), _at_entry(i):
        p = _plan(i, entry, grant, base_url)
        if p.method == "DELETE":
            return _delete(p, grant)
        if p.method != "GET" and not p.matched:
            _prepare(p, mapping, grant)
        stored = resources_store([Write(p.resource or {}, p.if_match)]) if p.method != "GET" and not p.matched else []
        stored_check(stored, grant)
        if p.full_url and p.method != "GET":
            mapping[p.full_url] = f"{p.resource_type}/{p.resource_id}"
        return _planned_response(p, stored[0] if stored else None, grant, base_url, representation)


def _batch(entries: list[Any], grant: Grant | None, base_url: str, representation: bool) -> list[dict[str, Any]]:
    responses: list[dict[str, Any]] = []
    mapping: dict[str, str] = {}
    for i, entry in enumerate(entries):
        try:
            responses.append(_batch_entry(i, entry, mapping, grant, base_url, representation))
        except ApplicationError as exc:
            responses.append(_error_entry(exc))
    return responses


def bundle_process(*, bundle: Any, grant: Grant | None, base_url: str, representation: bool = True) -> dict[str, Any]:
    """Process a batch or transaction Bundle; returns the batch-response/transaction-response Bundle."""
    resource_validate_bundle(bundle)
    kind = bundle["type"]
    entries = bundle.get("entry") or []
    process = _transaction if kind == "transaction" else _batch
    return {
        "resourceType": "Bundle",
        "type": f"{kind}-response",
        "entry": process(entries, grant, base_url, representation),
    }


def resource_validate_bundle(bundle: Any) -> None:
    """400 unless the body is a batch or transaction Bundle with a list of entries."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InvalidResource("POST to the base URL takes a Bundle.")
    if bundle.get("type") not in ("batch", "transaction"):
        raise InvalidResource("The Bundle type must be 'batch' or 'transaction'.")
    if not isinstance(bundle.get("entry", []), list):
        raise InvalidResource("Bundle.entry must be a list.")
