"""Bundle-local references (`urn:uuid:` fullUrls) rewritten to the `Type/id` the server assigned."""

from typing import Any

from sandbox_ehr.fhir.errors import InvalidResource


def rewrite_references(value: Any, mapping: dict[str, str]) -> Any:
    """A copy of `value` with every `reference` that names a Bundle fullUrl rewritten to Type/id."""
    if isinstance(value, dict):
        out = {k: rewrite_references(v, mapping) if isinstance(v, (dict, list)) else v for k, v in value.items()}
        ref = value.get("reference")
        if isinstance(ref, str) and (ref.startswith("urn:uuid:") or ref in mapping):
            if ref not in mapping:
                raise InvalidResource(f"The reference {ref} names no entry of this Bundle.")
            out["reference"] = mapping[ref]
        return out
    if isinstance(value, list):
        return [rewrite_references(v, mapping) if isinstance(v, (dict, list)) else v for v in value]
    return value
