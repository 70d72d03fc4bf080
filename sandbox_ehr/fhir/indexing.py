"""Search index of one resource: compartment patient, status, date range and tokens (pure, no I/O)."""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sandbox_ehr.fhir.dates import element_range
from sandbox_ehr.fhir.params import SEARCH_PARAMS

_REF_RE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
_CHOICE_SUFFIXES = ("DateTime", "Period", "Instant", "Date")
# Roots that name the patient a resource is about (patient compartment, R4 compartmentdefinition-patient).
_PATIENT_ROOTS = ("subject", "patient", "beneficiary")
Token = tuple[str, str, str]  # (param, system, code)


@dataclass
class SearchIndex:
    """What the search columns and token rows of one resource hold."""

    patient_id: str = ""
    status: str = ""
    date_start: datetime | None = None
    date_end: datetime | None = None
    tokens: list[Token] = field(default_factory=list)


def reference_key(reference: str) -> str | None:
    """'Type/id' of a literal reference (relative, absolute or versioned); None for others."""
    if not isinstance(reference, str) or reference.startswith(("#", "urn:")):
        return None
    match = _REF_RE.search(reference)
    return f"{match.group(1)}/{match.group(2)}" if match else None


def values_at(resource: dict[str, Any], path: str) -> Iterator[Any]:
    """Values at a dotted element path, flattening lists at every step."""
    current: list[Any] = [resource]
    for step in path.split("."):
        found: list[Any] = []
        for node in current:
            if isinstance(node, dict) and step in node:
                value = node[step]
                found.extend(value if isinstance(value, list) else [value])
        current = found
    yield from current


def _choice_value(resource: dict[str, Any], root: str) -> Any:
    if root in resource:
        return resource[root]
    for suffix in _CHOICE_SUFFIXES:
        if root + suffix in resource:
            return resource[root + suffix]
    return None


def _token_pairs(value: Any) -> Iterator[tuple[str, str]]:
    """(system, code) pairs of a code, Coding, CodeableConcept or Identifier."""
    if isinstance(value, str):
        yield "", value
    elif isinstance(value, dict):
        if "coding" in value:
            for coding in value["coding"]:
                yield from _token_pairs(coding)
        elif "code" in value:
            yield str(value.get("system", "")), str(value["code"])
        elif "value" in value:
            yield str(value.get("system", "")), str(value["value"])


def _patient_of_refs(refs: list[str], patient_of: Callable[[str], str]) -> str:
    for key in refs:
        if key.startswith("Patient/"):
            return key.split("/", 1)[1]
    for key in refs:
        found = patient_of(key)
        if found:
            return found
    return ""


def _ref_keys(resource: dict[str, Any], path: str) -> list[str]:
    keys = [reference_key(v.get("reference", "")) for v in values_at(resource, path) if isinstance(v, dict)]
    return [k for k in keys if k]


def compartment_patient(resource: dict[str, Any], patient_of: Callable[[str], str]) -> str:
    """Id of the Patient whose compartment holds this resource ('' when none)."""
    rtype = resource.get("resourceType")
    if rtype == "Patient":
        return str(resource.get("id", ""))
    if rtype == "Provenance":
        return _patient_of_refs(_ref_keys(resource, "target"), patient_of)
    if rtype == "AuditEvent":
        return _patient_of_refs(_ref_keys(resource, "entity.what") + _ref_keys(resource, "agent.who"), patient_of)
    for root in _PATIENT_ROOTS:
        keys = _ref_keys(resource, root)
        if keys and keys[0].startswith("Patient/"):
            return keys[0].split("/", 1)[1]
    return ""


def _string_tokens(name: str, value: Any) -> Iterator[Token]:
    if isinstance(value, str):
        for part in value.lower().split():
            yield name, "", part[:255]
    elif isinstance(value, dict):  # HumanName: every part and the text
        for key in ("text", "family", "given", "prefix", "suffix"):
            for part in values_at(value, key):
                yield from _string_tokens(name, part)


def search_index(resource: dict[str, Any], patient_of: Callable[[str], str] = lambda _key: "") -> SearchIndex:
    """Build the index of a (valid, reference-resolved) resource; `patient_of` resolves Type/id -> patient."""
    index = SearchIndex(patient_id=compartment_patient(resource, patient_of))
    status = resource.get("status")
    index.status = status if isinstance(status, str) else ""
    for name, param in SEARCH_PARAMS.get(resource.get("resourceType", ""), {}).items():
        for path in param.paths:
            if param.kind == "date":
                span = element_range(_choice_value(resource, path))
                if span:
                    index.date_start, index.date_end = span
            elif param.kind == "token":
                pairs = [pair for v in values_at(resource, path) for pair in _token_pairs(v)]
                index.tokens += [(name, system[:255], code[:255]) for system, code in pairs]
            elif param.kind == "reference":
                index.tokens += [(name, "", key) for key in _ref_keys(resource, path)]
            elif param.kind == "string":
                index.tokens += [t for v in values_at(resource, path) for t in _string_tokens(name, v)]
    index.tokens = list(dict.fromkeys(index.tokens))
    return index
