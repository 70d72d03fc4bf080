"""The search parameters the sandbox supports, per resource type (FHIR R4 search parameter registry).

Names and element paths follow the R4 resource pages' "Search Parameters" tables
(https://hl7.org/fhir/R4/searchparameter-registry.html). Each parameter is indexed at write time
(sandbox_ehr/fhir/indexing.py) into a column or into FhirToken rows named after the parameter.
"""

from dataclasses import dataclass
from typing import Literal

Kind = Literal["token", "reference", "string", "date", "patient", "status"]


@dataclass(frozen=True)
class Param:
    """One search parameter: its kind, the root element(s) it reads and, for references, the types it points at."""

    kind: Kind
    paths: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()  # of a reference or patient parameter; empty: any type


_PATIENT = Param("patient", targets=("Patient",))
_STATUS = Param("status")
_IDENTIFIER = Param("token", ("identifier",))
_ENCOUNTER = Param("reference", ("encounter",), ("Encounter",))

SEARCH_PARAMS: dict[str, dict[str, Param]] = {
    "Patient": {
        "identifier": _IDENTIFIER,
        "name": Param("string", ("name",)),
        "family": Param("string", ("name.family",)),
        "given": Param("string", ("name.given",)),
        "gender": Param("token", ("gender",)),
        "birthdate": Param("date", ("birthDate",)),
    },
    "Encounter": {
        "patient": _PATIENT,
        "subject": _PATIENT,
        "status": _STATUS,
        "identifier": _IDENTIFIER,
        "class": Param("token", ("class",)),
        "type": Param("token", ("type",)),
        "date": Param("date", ("period",)),
    },
    "Observation": {
        "patient": _PATIENT,
        "subject": _PATIENT,
        "status": _STATUS,
        "identifier": _IDENTIFIER,
        "encounter": _ENCOUNTER,
        "code": Param("token", ("code",)),
        "category": Param("token", ("category",)),
        "date": Param("date", ("effective",)),
    },
    "Condition": {
        "patient": _PATIENT,
        "subject": _PATIENT,
        "identifier": _IDENTIFIER,
        "encounter": _ENCOUNTER,
        "code": Param("token", ("code",)),
        "category": Param("token", ("category",)),
        "clinical-status": Param("token", ("clinicalStatus",)),
        "verification-status": Param("token", ("verificationStatus",)),
        "onset-date": Param("date", ("onset",)),
    },
    "MedicationRequest": {
        "patient": _PATIENT,
        "subject": _PATIENT,
        "status": _STATUS,
        "identifier": _IDENTIFIER,
        "encounter": _ENCOUNTER,
        "code": Param("token", ("medicationCodeableConcept",)),
        "category": Param("token", ("category",)),
        "intent": Param("token", ("intent",)),
        "authoredon": Param("date", ("authoredOn",)),
    },
    "Procedure": {  # read by the readmission model (procedures of the stay, scoring/features/readmission.py)
        "patient": _PATIENT,
        "subject": _PATIENT,
        "status": _STATUS,
        "identifier": _IDENTIFIER,
        "encounter": _ENCOUNTER,
        "code": Param("token", ("code",)),
        "category": Param("token", ("category",)),
        "date": Param("date", ("performed",)),
    },
    "RiskAssessment": {
        "patient": _PATIENT,
        "subject": _PATIENT,
        "status": _STATUS,
        "identifier": _IDENTIFIER,
        "encounter": _ENCOUNTER,
        "code": Param("token", ("code",)),
        "method": Param("token", ("method",)),
        "date": Param("date", ("occurrence",)),
    },
    "Provenance": {
        "patient": _PATIENT,
        "target": Param("reference", ("target",)),
        "when": Param("date", ("occurred",)),
    },
    "AuditEvent": {
        "patient": _PATIENT,
        "type": Param("token", ("type",)),
        "subtype": Param("token", ("subtype",)),
        "date": Param("date", ("recorded",)),
    },
}

SEARCHABLE_TYPES = tuple(SEARCH_PARAMS)


def include_values(resource_type: str) -> list[str]:
    """The `_include` values supported on a search of `resource_type` (e.g. Observation:encounter)."""
    params = SEARCH_PARAMS.get(resource_type, {})
    return [f"{resource_type}:{n}" for n, p in params.items() if p.kind in INCLUDE_KINDS]


def all_include_values() -> list[str]:
    """Every `Type:param` an `_include:iterate` or `_revinclude` may name."""
    return [value for resource_type in SEARCH_PARAMS for value in include_values(resource_type)]


def revinclude_values(resource_type: str) -> list[str]:
    """The `_revinclude` values whose parameter can point at `resource_type` (e.g. Observation:subject on Patient)."""
    return [
        f"{source}:{n}"
        for source, params in SEARCH_PARAMS.items()
        for n, p in params.items()
        if p.kind in INCLUDE_KINDS and (not p.targets or resource_type in p.targets)
    ]


# Result parameters accepted on every search (everything else unknown answers 400).
RESULT_PARAMS = frozenset({"_id", "_lastUpdated", "_count", "_sort", "_offset", "_format"})
# Parameter kinds `_include=[type]:[param]` follows (reference parameters; `patient` kinds point at Patient).
INCLUDE_KINDS = ("patient", "reference")
DEFAULT_COUNT = 100
MAX_COUNT = 1000
# Bounds of `_include`/`_revinclude` (with `:iterate`) on one page: past them the search answers 400 too-costly.
MAX_INCLUDED = 5000
MAX_INCLUDE_ROUNDS = 4
