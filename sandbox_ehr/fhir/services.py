"""Writes of the sandbox FHIR server: create, update, patch, conditional create and delete (FHIR R4 http.html).

Each write validates the resource with the R4B models, checks scopes and the patient compartment
and stores it through `store.resources_store`, inside one database transaction.
"""

import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from django.db import transaction

from sandbox_ehr.fhir.errors import InvalidResource, PreconditionFailed, VersionConflict
from sandbox_ehr.fhir.models import FhirResource
from sandbox_ehr.fhir.patch import patch_apply
from sandbox_ehr.fhir.permissions import Grant, compartment, compartment_require, scope_require
from sandbox_ehr.fhir.references import rewrite_references
from sandbox_ehr.fhir.search import search_build
from sandbox_ehr.fhir.selectors import not_deleted, resource_read, resource_row
from sandbox_ehr.fhir.store import Stored, Write, resource_mark_deleted, resources_store
from sandbox_ehr.fhir.validation import resource_validate

_ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


@dataclass(frozen=True)
class WriteResult:
    """A stored resource and the HTTP status of the write (201 created, 200 otherwise)."""

    stored: Stored

    @property
    def status(self) -> int:
        """201 for a new resource, 200 for an update, a no-op or a conditional-create match."""
        return 201 if self.stored.created else 200


def new_id() -> str:
    """A server-assigned logical id."""
    return str(uuid.uuid4())


def id_check(resource_id: str) -> None:
    """400 unless `resource_id` is a valid FHIR id (R4 datatypes.html#id)."""
    if not _ID_RE.match(resource_id):
        raise InvalidResource(f"'{resource_id}' is not a valid FHIR id.")


def conditional_matches(resource_type: str, query: str, grant: Grant | None) -> list[str]:
    """Ids matching an If-None-Exist query (searching the token's compartment only)."""
    params = parse_qsl(query.lstrip("?"), keep_blank_values=True)
    if not params:
        raise InvalidResource("If-None-Exist must hold a search query such as identifier=system|value.")
    built = search_build(resource_type, params, compartment=compartment(grant, resource_type, "create"))
    return list(built.queryset.values_list("resource_id", flat=True)[:2])


def stored_check(stored: list[Stored], grant: Grant | None) -> None:
    """403 (rolling the write back) when a patient-level token wrote outside its compartment."""
    for item in stored:
        compartment_require(grant, item.resource_type, "create" if item.created else "update", item.patient_id)


def _existing(resource_type: str, resource_id: str, grant: Grant | None) -> WriteResult:
    """A conditional create's match, answered only to a token that may read it (as in a Bundle)."""
    row, content = resource_read(grant=grant, resource_type=resource_type, resource_id=resource_id)
    return WriteResult(
        Stored(
            row.resource_type,
            row.resource_id,
            row.version_id,
            row.last_updated,
            content,
            created=False,
            changed=False,
            patient_id=row.patient_id,
        )
    )


def resource_create(
    *, resource_type: str, resource: Any, grant: Grant | None, if_none_exist: str | None = None
) -> WriteResult:
    """POST [type]: validate and store under a new id; with If-None-Exist return a single match instead."""
    scope_require(grant, resource_type, "create")
    if not isinstance(resource, dict) or resource.get("resourceType") != resource_type:
        raise InvalidResource(f"POST /{resource_type} takes a {resource_type} resource.")
    resource_validate(resource)
    rewrite_references(resource, {})  # a urn:uuid reference only resolves inside a Bundle
    with transaction.atomic():
        if if_none_exist:
            matches = conditional_matches(resource_type, if_none_exist, grant)
            if len(matches) > 1:
                raise PreconditionFailed(f"If-None-Exist matched more than one {resource_type}.")
            if matches:
                return _existing(resource_type, matches[0], grant)
        stored = resources_store([Write({**resource, "id": new_id()})])
        stored_check(stored, grant)
    return WriteResult(stored[0])


def _update_check(resource_type: str, resource_id: str, resource: Any, *, where: str = "") -> None:
    """What an update's resource must be: valid R4, of the URL's type and id, no Bundle-local reference."""
    resource_validate(resource, where=where)
    rewrite_references(resource, {})  # a urn:uuid reference only resolves inside a Bundle
    if resource["resourceType"] != resource_type:
        raise InvalidResource(f"The body is a {resource['resourceType']}, the URL names {resource_type}.")
    if resource.get("id") != resource_id:
        raise InvalidResource("The resource id must equal the id in the URL (R4 http.html#update).")


def resource_update(
    *, resource_type: str, resource_id: str, resource: Any, grant: Grant | None, if_match: int | None = None
) -> WriteResult:
    """PUT [type]/[id]: create or new version (update-as-create with the client's id)."""
    scope_require(grant, resource_type, "update")
    id_check(resource_id)
    _update_check(resource_type, resource_id, resource)
    with transaction.atomic():
        current = FhirResource.objects.filter(resource_type=resource_type, resource_id=resource_id).first()
        if current is not None:
            compartment_require(grant, resource_type, "update", current.patient_id)
        stored = resources_store([Write(resource, if_match=if_match)])
        stored_check(stored, grant)
    return WriteResult(stored[0])


def patch_scope_require(grant: Grant | None, resource_type: str) -> None:
    """403 unless the token may read and update the type: a patch applies to, and answers with, what is stored."""
    scope_require(grant, resource_type, "update")
    scope_require(grant, resource_type, "read")


def patched_write(
    *, resource_type: str, resource_id: str, operations: list[Any], grant: Grant | None, if_match: int | None = None
) -> Write:
    """Inside the caller's transaction: the current version (locked) with a JSON Patch applied, to store over it.

    404 if the resource never existed, 403 outside the token's compartment (before 410, as for a read),
    410 if it was deleted, 412 unless If-Match names the current version; 400/422 from the patch itself.
    A patch reads the current version (its `test` operations and the answer show it), so the token must be
    allowed to read it as well as update it (the caller checks both scopes: `patch_scope_require`).
    The caller validates the result as it validates an update.
    """
    row = resource_row(resource_type, resource_id, for_update=True)
    for interaction in ("read", "update"):
        compartment_require(grant, resource_type, interaction, row.patient_id)
    not_deleted(row)
    if if_match is not None and row.version_id != if_match:
        raise VersionConflict(extra={"current_version": row.version_id})
    return Write(patch_apply(orjson.loads(row.content), operations), if_match=row.version_id)


def resource_patch(
    *, resource_type: str, resource_id: str, operations: list[Any], grant: Grant | None, if_match: int | None = None
) -> WriteResult:
    """PATCH [type]/[id] with a JSON Patch (R4 http.html#patch): a new version, validated as PUT validates."""
    patch_scope_require(grant, resource_type)
    id_check(resource_id)
    with transaction.atomic():
        write = patched_write(
            resource_type=resource_type, resource_id=resource_id, operations=operations, grant=grant, if_match=if_match
        )
        _update_check(resource_type, resource_id, write.resource, where="The patched resource")
        stored = resources_store([write])
        stored_check(stored, grant)
    return WriteResult(stored[0])


def delete_apply(
    *, resource_type: str, resource_id: str, grant: Grant | None, if_match: int | None = None
) -> FhirResource | None:
    """Delete inside the caller's transaction: the deleted row, or None when there was nothing to delete.

    Absent and already deleted resources are a no-op (idempotent, R4 http.html#delete); If-Match must
    still name the current version (the deletion version for a deleted one), else 412.
    """
    row = FhirResource.objects.select_for_update().filter(resource_type=resource_type, resource_id=resource_id).first()
    if row is not None:
        compartment_require(grant, resource_type, "delete", row.patient_id)
    if if_match is not None and (row is None or row.version_id != if_match):
        raise VersionConflict(extra={"current_version": row.version_id if row else None})
    if row is None or row.deleted:
        return None
    return resource_mark_deleted(row)


def resource_delete(
    *, resource_type: str, resource_id: str, grant: Grant | None, if_match: int | None = None
) -> FhirResource | None:
    """DELETE [type]/[id]: the resource's next version is a deletion; None when nothing was deleted."""
    scope_require(grant, resource_type, "delete")
    id_check(resource_id)
    with transaction.atomic():
        return delete_apply(resource_type=resource_type, resource_id=resource_id, grant=grant, if_match=if_match)
