"""SMART scope grammar: v2 `context/Type.cruds` and v1 `context/Type.read|write|*`, plus narrowing.

SMART App Launch 2.x, "Scopes and Launch Context" (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html):
v2 permissions are an ordered subset of `c r u d s`; v1 `read` = `rs`, `write` = `cud`, `*` = `cruds`
(the spec's "Scope equivalence" table). Granular scopes (`?param=value`) are not supported by the
sandbox: such a scope is never granted (least privilege), the other scopes of the request still are.
"""

import re
from dataclasses import dataclass

PERMISSION_ORDER = "cruds"
V1_PERMISSIONS = {"read": "rs", "write": "cud", "*": "cruds"}
CONTEXTS = ("patient", "user", "system")
INTERACTION_PERMISSION = {"create": "c", "read": "r", "vread": "r", "update": "u", "delete": "d", "search": "s"}
# Non-resource scopes the sandbox understands.
LAUNCH_SCOPES = frozenset(
    {
        "openid",
        "fhirUser",
        "profile",
        "launch",
        "launch/patient",
        "launch/encounter",
        "offline_access",
        "online_access",
        "introspect",  # sandbox-specific: a bearer token with it may call the introspection endpoint
    }
)
_RESOURCE_SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.(\*|read|write|c?r?u?d?s?)$")


@dataclass(frozen=True)
class ResourceScope:
    """One clinical-data scope, permissions normalised to v2 letters."""

    raw: str
    context: str
    resource_type: str
    permissions: str

    def covers(self, resource_type: str) -> bool:
        """True when this scope applies to the resource type."""
        return self.resource_type in ("*", resource_type)


def resource_scope_parse(scope: str) -> ResourceScope | None:
    """Parse `patient/Observation.rs` (v2) or `patient/Observation.read` (v1); None if not one."""
    match = _RESOURCE_SCOPE.match(scope)
    if not match or not match.group(3):
        return None
    context, resource_type, perm = match.groups()
    permissions = V1_PERMISSIONS.get(perm, perm)
    return ResourceScope(raw=scope, context=context, resource_type=resource_type, permissions=permissions)


def scope_split(scope: str) -> list[str]:
    """Split a space-separated scope string, dropping duplicates but keeping order."""
    return list(dict.fromkeys(scope.split()))


def is_known(scope: str) -> bool:
    """True for a launch/identity scope or a well-formed resource scope."""
    return scope in LAUNCH_SCOPES or resource_scope_parse(scope) is not None


def _letters(permissions: set[str]) -> str:
    return "".join(p for p in PERMISSION_ORDER if p in permissions)


def _narrow(requested: ResourceScope, allowed: list[ResourceScope]) -> str | None:
    """The part of a requested resource scope the allowed scopes cover (v2 letters), or None."""
    granted: set[str] = set()
    for scope in allowed:
        if scope.context == requested.context and scope.resource_type in ("*", requested.resource_type):
            granted |= set(scope.permissions) & set(requested.permissions)
    if not granted:
        return None
    if granted == set(requested.permissions):
        return requested.raw  # fully covered: keep the client's own spelling (v1 stays v1)
    return f"{requested.context}/{requested.resource_type}.{_letters(granted)}"


def scope_intersect(requested: str, allowed: str) -> list[str]:
    """Requested ∩ allowed, narrowing resource scopes (`patient/*.cruds` ∩ `patient/*.rs` = `patient/*.rs`)."""
    allowed_list = scope_split(allowed)
    allowed_resources = [s for s in map(resource_scope_parse, allowed_list) if s is not None]
    result: list[str] = []
    for scope in scope_split(requested):
        parsed = resource_scope_parse(scope)
        if parsed is None:
            if scope in LAUNCH_SCOPES and scope in allowed_list:
                result.append(scope)
            continue
        narrowed = _narrow(parsed, allowed_resources)
        if narrowed:
            result.append(narrowed)
    return list(dict.fromkeys(result))
