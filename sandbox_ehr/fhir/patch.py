"""JSON Patch (RFC 6902) of a stored resource, for PATCH [type]/[id] and Bundle PATCH entries (R4 http.html#patch)."""

import base64
import binascii
import copy
from typing import Any

import jsonpatch
import orjson

from sandbox_ehr.fhir.errors import InvalidResource, PatchFailed, UnsupportedMediaType

JSON_PATCH = "application/json-patch+json"
_KEPT = ("resourceType", "id")
# JSON values (objects, arrays, scalars) the `copy` operations of one patch may add: each copy can double the
# document, so a short patch could otherwise grow it past any memory (a body-size limit bounds only `add`).
MAX_COPIED_VALUES = 100_000


def _fhirpath_patch() -> UnsupportedMediaType:
    return UnsupportedMediaType(
        f"FHIRPath Patch (a Parameters resource) is not supported: send a JSON Patch (RFC 6902) as {JSON_PATCH}."
    )


def patch_operations(media_type: str, body: bytes) -> list[Any]:
    """The operations of a JSON Patch body; 415 for any other media type (FHIRPath Patch too), 400 if malformed."""
    media_type = media_type.split(";", 1)[0].strip().lower()
    if media_type == "application/fhir+json":
        raise _fhirpath_patch()
    if media_type != JSON_PATCH:
        raise UnsupportedMediaType(
            f"PATCH takes a JSON Patch (RFC 6902) as {JSON_PATCH}, not '{media_type or 'a body without Content-Type'}'."
        )
    try:
        operations = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidResource(f"The JSON Patch is not valid JSON: {exc}.") from exc
    if not isinstance(operations, list):
        raise InvalidResource("A JSON Patch is a JSON array of operations (RFC 6902).")
    return operations


def binary_patch(resource: Any) -> list[Any]:
    """The JSON Patch a Bundle PATCH entry carries as a Binary resource (R4 http.html#patch): 415 or 400 otherwise."""
    if isinstance(resource, dict) and resource.get("resourceType") == "Parameters":
        raise _fhirpath_patch()
    if not isinstance(resource, dict) or resource.get("resourceType") != "Binary":
        raise InvalidResource(
            f"A PATCH entry carries its JSON Patch in a Binary resource (contentType {JSON_PATCH}, "
            "data the base64 of the patch)."
        )
    try:
        body = base64.b64decode(str(resource.get("data") or ""), validate=True)
    except binascii.Error as exc:
        raise InvalidResource(f"Binary.data of the PATCH entry is not base64: {exc}.") from exc
    return patch_operations(str(resource.get("contentType") or ""), body)


def _where(index: int, operation: Any) -> str:
    if isinstance(operation, dict) and isinstance(operation.get("op"), str):
        return f"JSON Patch operation {index} ({operation['op']} {operation.get('path')})"
    return f"JSON Patch operation {index}"


def _apply_one(document: Any, index: int, operation: Any) -> Any:
    """`document` (changed in place) with one operation applied; 400 if malformed, 422 if it cannot apply."""
    where, extra = _where(index, operation), {"operation": index}
    try:
        return jsonpatch.JsonPatch([operation]).apply(document, in_place=True)
    except jsonpatch.InvalidJsonPatch as exc:
        raise InvalidResource(f"{where} is not valid: {exc}.", extra=extra) from exc
    except jsonpatch.JsonPatchTestFailed as exc:
        expected = orjson.dumps(operation.get("value")).decode()
        raise PatchFailed(
            f"{where} failed: the value at '{operation.get('path')}' is not {expected}.", extra=extra
        ) from exc
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise PatchFailed(f"{where} failed: {exc}.", extra=extra) from exc


def _values(value: Any) -> int:
    """How many JSON values `value` holds, itself included (iteratively: no recursion limit)."""
    count, stack = 0, [value]
    while stack:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def _copied(document: Any, operation: Any) -> int:
    """JSON values a `copy` operation would add (0 for other operations, or when `from` names nothing)."""
    if not isinstance(operation, dict) or operation.get("op") != "copy" or not isinstance(operation.get("from"), str):
        return 0
    try:
        return _values(jsonpatch.JsonPointer(operation["from"]).resolve(document))
    except jsonpatch.JsonPointerException:
        return 0  # the operation itself fails with the reason


def patch_apply(resource: dict[str, Any], operations: list[Any]) -> dict[str, Any]:
    """A copy of `resource` with the operations applied in order, all or none; its type and id may not change."""
    patched: Any = copy.deepcopy(resource)
    copied = 0
    for index, operation in enumerate(operations):
        copied += _copied(patched, operation)
        if copied > MAX_COPIED_VALUES:
            raise PatchFailed(
                f"{_where(index, operation)}: the patch's copy operations would add more than "
                f"{MAX_COPIED_VALUES} JSON values.",
                extra={"operation": index},
            )
        patched = _apply_one(patched, index, operation)
    if not isinstance(patched, dict):
        raise PatchFailed("The patch must leave a JSON object (the resource).")
    for name in _KEPT:
        if patched.get(name) != resource.get(name):
            raise PatchFailed(
                f"A patch may not change the resource's {name} (it stays {resource.get(name)!r}).",
                extra={"element": name},
            )
    return patched
