"""Reads of the sandbox FHIR store: read, vread and searchset Bundles built from stored JSON text."""
from urllib.parse import urlencode

import orjson

from sandbox_ehr.fhir.errors import ResourceNotFound
from sandbox_ehr.fhir.models import FhirResource, FhirResourceHistory
from sandbox_ehr.fhir.permissions import Grant, compartment, compartment_require, scope_require
from sandbox_ehr.fhir.search import SearchQuery, search_build


def resource_get(resource_type: str, resource_id: str) -> FhirResource:
    """The current version of a resource, or 404."""
    row = FhirResource.objects.filter(resource_type=resource_type, resource_id=resource_id).first()
    if row is None:
        raise ResourceNotFound(f"{resource_type}/{resource_id} does not exist.")
    return row


def resource_version_get(resource_type: str, resource_id: str, version_id: str) -> tuple[FhirResource, str]:
    """(current row, content of the asked version), or 404 for an unknown version."""
    row = resource_get(resource_type, resource_id)
    if version_id == str(row.version_id):
        return row, row.content
    old = FhirResourceHistory.objects.filter(resource_type=resource_type, resource_id=resource_id,
                                             version_id=int(version_id) if version_id.isdigit() else -1).first()
    if old is None:
        raise ResourceNotFound(f"{resource_type}/{resource_id} has no version {version_id}.")
    return row, old.content


def _link(relation: str, url: str) -> dict[str, str]:
    return {"relation": relation, "url": url}


def searchset_bundle(query: SearchQuery, *, base_url: str, resource_type: str,
                     params: list[tuple[str, str]]) -> bytes:
    """A searchset Bundle as JSON bytes; stored resources are spliced in without parsing them."""
    page = query.queryset.values_list("resource_id", "content")[query.offset:query.offset + query.count]
    rows = list(page) if query.count else []
    if query.count and len(rows) < query.count and (rows or query.offset == 0):
        total = query.offset + len(rows)
    else:
        total = query.queryset.count()
    kept = [(k, v) for k, v in params if k != "_offset"]
    links = [_link("self", f"{base_url}/{resource_type}?{urlencode(params)}")]
    if query.count and query.offset + query.count < total:
        links.append(_link("next", f"{base_url}/{resource_type}?"
                                   f"{urlencode([*kept, ('_offset', str(query.offset + query.count))])}"))
    head = orjson.dumps({"resourceType": "Bundle", "type": "searchset", "total": total, "link": links})
    entries = b",".join(
        b'{"fullUrl":' + orjson.dumps(f"{base_url}/{resource_type}/{rid}") + b',"resource":' + content.encode()
        + b',"search":{"mode":"match"}}'
        for rid, content in rows
    )
    return head[:-1] + b',"entry":[' + entries + b"]}"


def resource_read(*, grant: Grant | None, resource_type: str, resource_id: str,
                  version_id: str | None = None) -> tuple[FhirResource, str]:
    """Read or vread with scope and compartment checks: (current row, JSON text of the version)."""
    scope_require(grant, resource_type, "read")
    if version_id is None:
        row = resource_get(resource_type, resource_id)
        content = row.content
    else:
        row, content = resource_version_get(resource_type, resource_id, version_id)
    compartment_require(grant, resource_type, "read", row.patient_id)
    return row, content


def resource_search(*, grant: Grant | None, resource_type: str, params: list[tuple[str, str]],
                    base_url: str) -> bytes:
    """A searchset Bundle (JSON bytes) restricted to the token's patient compartment."""
    scope_require(grant, resource_type, "search")
    query = search_build(resource_type, params, compartment=compartment(grant, resource_type, "search"))
    return searchset_bundle(query, base_url=base_url, resource_type=resource_type, params=params)
