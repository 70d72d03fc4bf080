"""Reads of the sandbox FHIR store: read, vread and searchset Bundles (with `_include`/`_revinclude`) from JSON text."""

from urllib.parse import urlencode

import orjson

from sandbox_ehr.fhir.errors import ResourceGone, ResourceNotFound
from sandbox_ehr.fhir.includes import Found, included_resources
from sandbox_ehr.fhir.models import FhirResource, FhirResourceHistory
from sandbox_ehr.fhir.permissions import Grant, compartment, compartment_require, scope_require
from sandbox_ehr.fhir.search import SearchQuery, search_build


def resource_row(resource_type: str, resource_id: str, *, for_update: bool = False) -> FhirResource:
    """The current row of a resource, deleted or not (locked for the caller's transaction if asked), or 404."""
    rows = FhirResource.objects.select_for_update() if for_update else FhirResource.objects.all()
    row = rows.filter(resource_type=resource_type, resource_id=resource_id).first()
    if row is None:
        raise ResourceNotFound(f"{resource_type}/{resource_id} does not exist.")
    return row


def resource_get(resource_type: str, resource_id: str) -> FhirResource:
    """The current version of a resource, 404 if it never existed, 410 if it was deleted."""
    return not_deleted(resource_row(resource_type, resource_id))


def not_deleted(row: FhirResource) -> FhirResource:
    """`row`, or 410 when its current version is a deletion."""
    if row.deleted:
        raise ResourceGone(
            f"{row.resource_type}/{row.resource_id} was deleted (version {row.version_id}).",
            extra={"version_id": row.version_id},
        )
    return row


def _deleted_version(resource_type: str, resource_id: str, version_id: str) -> ResourceGone:
    return ResourceGone(
        f"Version {version_id} of {resource_type}/{resource_id} is a deletion.", extra={"version_id": version_id}
    )


def version_content(row: FhirResource, version_id: str) -> str:
    """JSON text of one version of `row`'s resource; 404 for an unknown version, 410 for a deletion."""
    rtype, rid = row.resource_type, row.resource_id
    if version_id == str(row.version_id):
        if row.deleted:
            raise _deleted_version(rtype, rid, version_id)
        return row.content
    old = FhirResourceHistory.objects.filter(
        resource_type=rtype, resource_id=rid, version_id=int(version_id) if version_id.isdigit() else -1
    ).first()
    if old is None:
        raise ResourceNotFound(f"{rtype}/{rid} has no version {version_id}.")
    if not old.content:
        raise _deleted_version(rtype, rid, version_id)
    return old.content


def _link(relation: str, url: str) -> dict[str, str]:
    return {"relation": relation, "url": url}


def _entry(base_url: str, key: str, content: str, mode: bytes) -> bytes:
    return (
        b'{"fullUrl":'
        + orjson.dumps(f"{base_url}/{key}")
        + b',"resource":'
        + content.encode()
        + b',"search":{"mode":"'
        + mode
        + b'"}}'
    )


def searchset_bundle(
    query: SearchQuery, *, base_url: str, resource_type: str, params: list[tuple[str, str]], grant: Grant | None = None
) -> bytes:
    """A searchset Bundle as JSON bytes; stored resources are spliced in without parsing them.

    Matches have `search.mode` "match"; what `_include`/`_revinclude` add follows them with "include"
    (not in `total`).
    """
    page = query.queryset.values_list("pk", "resource_id", "content", "patient_id")[
        query.offset : query.offset + query.count
    ]
    rows = list(page) if query.count else []
    if query.count and len(rows) < query.count and (rows or query.offset == 0):
        total = query.offset + len(rows)
    else:
        total = query.queryset.count()
    kept = [(k, v) for k, v in params if k != "_offset"]
    links = [_link("self", f"{base_url}/{resource_type}?{urlencode(params)}")]
    if query.count and query.offset + query.count < total:
        links.append(
            _link(
                "next", f"{base_url}/{resource_type}?{urlencode([*kept, ('_offset', str(query.offset + query.count))])}"
            )
        )
    head = orjson.dumps({"resourceType": "Bundle", "type": "searchset", "total": total, "link": links})
    matches = [Found(pk, f"{resource_type}/{rid}", content, patient) for pk, rid, content, patient in rows]
    included = included_resources(query.includes, matches, grant=grant) if query.includes else []
    entries = b",".join(
        [_entry(base_url, f.key, f.content, b"match") for f in matches]
        + [_entry(base_url, f.key, f.content, b"include") for f in included]
    )
    return head[:-1] + b',"entry":[' + entries + b"]}"


def resource_read(
    *, grant: Grant | None, resource_type: str, resource_id: str, version_id: str | None = None
) -> tuple[FhirResource, str]:
    """Read or vread with scope and compartment checks: (current row, JSON text of the version)."""
    scope_require(grant, resource_type, "read")
    row = resource_row(resource_type, resource_id)
    compartment_require(grant, resource_type, "read", row.patient_id)  # before 410: no peeking at others'
    if version_id is None:
        return not_deleted(row), row.content
    return row, version_content(row, version_id)


def resource_search(*, grant: Grant | None, resource_type: str, params: list[tuple[str, str]], base_url: str) -> bytes:
    """A searchset Bundle (JSON bytes) restricted to the token's patient compartment."""
    scope_require(grant, resource_type, "search")
    query = search_build(resource_type, params, compartment=compartment(grant, resource_type, "search"))
    return searchset_bundle(query, base_url=base_url, resource_type=resource_type, params=params, grant=grant)
