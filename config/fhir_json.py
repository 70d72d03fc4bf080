"""The project's FHIR JSON conventions, shared by every app: our canonical URL, instants, pruning, which patient
a resource belongs to, and the shape of a model's data requirements.

Plain JSON helpers with no Django and no I/O; `resource_json` turns a fhir.resources model into a dict.
"""

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

# Our canonical URLs (documented in README "Write-back and audit").
CANONICAL = "https://stratify.example.org/fhir"
_PATIENT_KEYS = ("subject", "patient", "beneficiary")


def resource_json(resource: Any) -> dict[str, Any]:
    """FHIR JSON (a plain dict) of a fhir.resources object."""
    return dict(orjson.loads(resource.model_dump_json()))


def fhir_instant(value: datetime) -> str:
    """An aware datetime as a FHIR dateTime/instant in UTC ("...Z")."""
    if value.tzinfo is None:
        raise ValueError("FHIR times must be timezone-aware.")
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def prune(value: Any) -> Any:
    """Drop None and empty lists recursively (FHIR forbids empty arrays and nulls)."""
    if isinstance(value, dict):
        return {k: prune(v) for k, v in value.items() if v is not None and v != []}
    if isinstance(value, list):
        return [prune(v) for v in value]
    return value


def patient_of(resource: dict[str, Any]) -> str:
    """The id of the Patient a resource belongs to ("" when it names none): its own id for a Patient, else its
    subject, patient or beneficiary reference (the compartment links of the resources we read)."""
    if resource.get("resourceType") == "Patient":
        return str(resource.get("id") or "")
    for key in _PATIENT_KEYS:
        ref = resource.get(key)
        text = ref.get("reference") if isinstance(ref, dict) else None
        if isinstance(text, str) and text.startswith("Patient/"):
            return text[8:]
    return ""


def by_patient(resources: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Resources per Patient id (`patient_of`), each patient's in the order given; those naming none under ""."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        grouped.setdefault(patient_of(resource), []).append(resource)
    return grouped


class Requirements(Protocol):
    """What a model reads: resource types, Observation categories and codes, and how far back.

    The one shape shared by the model catalogue (scoring's `DataRequirements` has it), the fetch plan
    (fhirapp) and a model's selection of its share of a snapshot (scoring), which do not import each other.
    """

    @property
    def resource_types(self) -> tuple[str, ...]: ...
    @property
    def observation_categories(self) -> tuple[str, ...]: ...
    @property
    def observation_codes(self) -> tuple[str, ...]: ...
    @property
    def lookback_hours(self) -> float: ...
    @property
    def encounter_hours(self) -> float: ...
