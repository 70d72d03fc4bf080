"""The shape of every FHIR resource we read, checked once where it enters (the patient snapshot).

Prefetch and FHIR search results are untrusted input. Scoring, the cards and the sidebar read a few fields
of a few resource types (codes, times, quantities, references, encounter details, the patient's name and
dates) straight from the JSON; these models give each of those fields its type, so that a resource in which
one of them has another type (a list where an object is expected, a number where a string is, a boolean
quantity, a date past what a timestamp holds) is set aside as unusable, with the path and the reason, instead
of failing deep inside a feature extractor. Fields we do not read are ignored, whatever they hold.
Types follow FHIR R4 (http://hl7.org/fhir/R4/datatypes.html); strict: no coercion between JSON types.
"""

from __future__ import annotations

from typing import Annotated, Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

# Constraints checked by pydantic-core's own regex engine (a Python validator per field cost ~20 us per resource):
# no NUL anywhere (PostgreSQL text cannot hold it); a date/time either does not start with a digit (not a date
# we parse: readers treat it as unknown) or starts with a year from 1000 to 2999, so that every time we parse
# converts to a timestamp (year 1 at +14:00 or year 9999 at -14:00 would not).
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$")]
DateTimeText = Annotated[str, StringConstraints(pattern=r"^(?:[12][0-9]{3}|[^0-9\x00]|$)[^\x00]*$")]


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, populate_by_name=True)


class Coding(_Part):
    """http://hl7.org/fhir/R4/datatypes.html#Coding"""

    system: Text | None = None
    code: Text | None = None
    display: Text | None = None


class CodeableConcept(_Part):
    """http://hl7.org/fhir/R4/datatypes.html#CodeableConcept"""

    coding: list[Coding] | None = None
    text: Text | None = None


class Reference(_Part):
    """http://hl7.org/fhir/R4/references.html#Reference"""

    reference: Text | None = None


class Period(_Part):
    """http://hl7.org/fhir/R4/datatypes.html#Period"""

    start: DateTimeText | None = None
    end: DateTimeText | None = None


class Quantity(_Part):
    """http://hl7.org/fhir/R4/datatypes.html#Quantity (a boolean is not a number here)."""

    value: float | None = None
    unit: Text | None = None
    code: Text | None = None
    system: Text | None = None


class HumanName(_Part):
    """http://hl7.org/fhir/R4/datatypes.html#HumanName"""

    text: Text | None = None
    family: Text | None = None
    given: list[Text] | None = None


class Resource(_Part):
    """Any resource: a type name and, when present, a string id."""

    resource_type: Text = Field(alias="resourceType", min_length=1)
    id: Text | None = None


class _Clinical(Resource):
    """Fields of Observation, Condition, MedicationRequest and Procedure we read."""

    status: Text | None = None
    category: list[CodeableConcept] | CodeableConcept | None = None
    code: CodeableConcept | None = None
    encounter: Reference | None = None
    context: Reference | None = None


class Component(_Part):
    """http://hl7.org/fhir/R4/observation-definitions.html#Observation.component"""

    code: CodeableConcept | None = None
    value_quantity: Quantity | None = Field(default=None, alias="valueQuantity")


class Observation(_Clinical):
    """http://hl7.org/fhir/R4/observation.html"""

    effective_date_time: DateTimeText | None = Field(default=None, alias="effectiveDateTime")
    effective_instant: DateTimeText | None = Field(default=None, alias="effectiveInstant")
    effective_period: Period | None = Field(default=None, alias="effectivePeriod")
    issued: DateTimeText | None = None
    value_quantity: Quantity | None = Field(default=None, alias="valueQuantity")
    component: list[Component] | None = None


class Condition(_Clinical):
    """http://hl7.org/fhir/R4/condition.html"""

    recorded_date: DateTimeText | None = Field(default=None, alias="recordedDate")
    onset_date_time: DateTimeText | None = Field(default=None, alias="onsetDateTime")


class MedicationRequest(_Clinical):
    """http://hl7.org/fhir/R4/medicationrequest.html"""

    authored_on: DateTimeText | None = Field(default=None, alias="authoredOn")
    medication_codeable_concept: CodeableConcept | None = Field(default=None, alias="medicationCodeableConcept")


class Procedure(_Clinical):
    """http://hl7.org/fhir/R4/procedure.html"""

    performed_date_time: DateTimeText | None = Field(default=None, alias="performedDateTime")
    performed_period: Period | None = Field(default=None, alias="performedPeriod")


class Hospitalization(_Part):
    """http://hl7.org/fhir/R4/encounter-definitions.html#Encounter.hospitalization"""

    admit_source: CodeableConcept | None = Field(default=None, alias="admitSource")
    discharge_disposition: CodeableConcept | None = Field(default=None, alias="dischargeDisposition")


class Encounter(Resource):
    """http://hl7.org/fhir/R4/encounter.html"""

    status: Text | None = None
    class_: Coding | None = Field(default=None, alias="class")
    period: Period | None = None
    priority: CodeableConcept | None = None
    hospitalization: Hospitalization | None = None
    part_of: Reference | None = Field(default=None, alias="partOf")


class Patient(Resource):
    """http://hl7.org/fhir/R4/patient.html"""

    birth_date: DateTimeText | None = Field(default=None, alias="birthDate")
    gender: Text | None = None
    deceased_boolean: bool | None = Field(default=None, alias="deceasedBoolean")
    deceased_date_time: DateTimeText | None = Field(default=None, alias="deceasedDateTime")
    name: list[HumanName] | None = None


_BY_TYPE: dict[str, TypeAdapter[Any]] = {
    cls.__name__: TypeAdapter(cls) for cls in (Observation, Condition, MedicationRequest, Procedure, Encounter, Patient)
}
_ANY = TypeAdapter(Resource)


def resource_problem(value: Any) -> str | None:
    """None when `value` is a resource whose fields we read have their FHIR types; else what is wrong
    (the first few paths and reasons)."""
    if not isinstance(value, dict):
        return f"not a JSON object ({type(value).__name__})"
    kind = value.get("resourceType")
    adapter = _BY_TYPE.get(kind, _ANY) if isinstance(kind, str) else _ANY
    return _problem(adapter, value)


class _EntrySearch(_Part):
    mode: Text | None = None


class BundleEntry(_Part):
    """http://hl7.org/fhir/R4/bundle-definitions.html#Bundle.entry (the resource is checked on its own)."""

    resource: Any = None
    search: _EntrySearch | None = None


class BundleLink(_Part):
    """http://hl7.org/fhir/R4/bundle-definitions.html#Bundle.link"""

    relation: Text | None = None
    url: Text | None = None


class Bundle(Resource):
    """http://hl7.org/fhir/R4/bundle.html: the parts a search result is read by."""

    entry: list[BundleEntry] | None = None
    link: list[BundleLink] | None = None


_BUNDLE = TypeAdapter(Bundle)


def bundle_problem(value: Any) -> str | None:
    """None when `value` is a Bundle whose entries and links have their FHIR shapes; else what is wrong."""
    if not isinstance(value, dict):
        return f"not a JSON object ({type(value).__name__})"
    return _problem(_BUNDLE, value)


def _words(err: Any) -> str:
    if err["type"] == "string_pattern_mismatch":
        return "holds a NUL character, or a date outside the years 1000 to 2999"
    return str(err["msg"])


def _problem(adapter: TypeAdapter[Any], value: Any) -> str | None:
    """The first three paths and reasons `adapter` finds wrong in `value`, or None."""
    try:
        adapter.validate_python(value)
    except pydantic.ValidationError as exc:
        return "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'resource'}: {_words(err)}"
            for err in exc.errors(include_url=False, include_input=False)[:3]
        )
    return None


def bundle_matches(bundle: dict[str, Any]) -> list[Any]:
    """The `match`-mode entries' resources of a Bundle that passed `bundle_problem` (each still unchecked)."""
    return [
        e["resource"]
        for e in bundle.get("entry") or ()
        if e.get("resource") is not None and (e.get("search") or {}).get("mode", "match") in ("match", None)
    ]
