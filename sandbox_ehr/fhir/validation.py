"""Validation of resources on write with the fhir.resources R4B models (R4 JSON is accepted by them)."""

from functools import lru_cache
from typing import Any

import pydantic
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource

from sandbox_ehr.fhir.errors import InvalidResource, ResourceNotFound


@lru_cache(maxsize=256)
def _resource_model(resource_type: str) -> type[Resource] | None:
    try:
        model = get_fhir_model_class(resource_type)
    except ValueError:
        return None
    return model if issubclass(model, Resource) else None


def resource_type_check(resource_type: str) -> None:
    """404 for a path segment that is not an R4 resource type."""
    if not resource_type[:1].isupper() or _resource_model(resource_type) is None:
        raise ResourceNotFound(f"'{resource_type}' is not a FHIR resource type this server knows.")


def etag_version(value: Any, source: str = "If-Match") -> int | None:
    """The version a weak ETag names (`W/"2"`, `"2"` or `2`), None when absent; 400 for anything else."""
    if value is None or value == "":
        return None
    digits = value.removeprefix("W/").strip('"') if isinstance(value, str) else ""
    if not (digits.isascii() and digits.isdigit()):  # "²".isdigit(), but int("²") fails
        raise InvalidResource(f"{source} '{value}' is not a version ETag such as W/\"2\".")
    return int(digits)


MAX_DEPTH = 64  # JSON nesting allowed in one resource; real R4 resources stay far below (validation recurses)


def _too_deep(value: Any) -> bool:
    """Whether JSON nesting exceeds MAX_DEPTH (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def resource_validate(resource: Any, *, where: str = "") -> None:
    """Raise InvalidResource (with one field entry per problem) unless `resource` is a valid R4B resource."""
    prefix = f"{where}: " if where else ""
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise InvalidResource(f"{prefix}the body is not a FHIR resource (no resourceType).")
    if _too_deep(resource):
        raise InvalidResource(f"{prefix}the resource nests JSON more than {MAX_DEPTH} levels deep.")
    model = _resource_model(resource["resourceType"])
    if model is None:
        raise InvalidResource(f"{prefix}'{resource['resourceType']}' is not a FHIR resource type.")
    try:
        model.model_validate(resource)
    except pydantic.ValidationError as exc:
        fields = [
            {"loc": ".".join(str(p) for p in err["loc"]), "msg": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise InvalidResource(
            f"{prefix}{resource['resourceType']} is not valid FHIR R4: {fields[0]['loc']}: {fields[0]['msg']}",
            extra={"fields": fields},
        ) from exc
