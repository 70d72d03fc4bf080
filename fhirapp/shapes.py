"""The shape of every FHIR resource we read, checked once where it enters (the patient snapshot).

Prefetch and FHIR search results are untrusted input. Scoring, the cards and the sidebar read a few fields
of a few resource types (codes, times, quantities, references, encounter details, the patient's name and
dates) straight from the JSON; these structs give each of those fields its type, so that a resource in which
one of them has another type (a list where an object is expected, a number where a string is, a boolean
quantity, a date past what a timestamp holds) or that holds a NUL character anywhere is set aside as
unusable, with the path and the reason, instead of failing deep inside a feature extractor. Fields we do not
read are ignored, whatever they hold. Types follow FHIR R4 (http://hl7.org/fhir/R4/datatypes.html); strict:
no coercion between JSON types.

The check is on every resource of every call (500 Observations in a typical prefetch), so it is msgspec's
strict `convert` into structs that the garbage collector does not track (measured 0.8 ms per 500
Observations against 3-6 ms for the same checks as pydantic models), and one search of the resource's
compact JSON for an escaped NUL instead of a pattern on every string.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Sequence
from types import UnionType
from typing import Annotated, Any, Required, TypedDict, Union, get_args, get_origin

import msgspec
import orjson

# A date/time either does not start with a digit (not a date we parse: readers treat it as unknown) or starts
# with a year from 1000 to 2999, so that every time we parse converts to a timestamp (year 1 at +14:00 or year
# 9999 at -14:00 would not).
DateTimeText = Annotated[str, msgspec.Meta(pattern=r"^(?:[12][0-9]{3}|[^0-9]|$)")]
_DATE_WORDS = "holds a NUL character, or a date outside the years 1000 to 2999"


class _Part(msgspec.Struct, gc=False, omit_defaults=True):
    """A FHIR element: the fields we read, typed (named as FHIR names them); any other field ignored."""


class Coding(_Part):
    """http://hl7.org/fhir/R4/datatypes.html#Coding"""

    system: str | None = None
    code: str | None = None
    display: str | None = None


class CodeableConcept(_Part):
    """http://hl7.org/fhir/R4/datatypes.html#CodeableConcept"""

    coding: list[Coding] | None = None
    text: str | None = None


class Reference(_Part):
    """http://hl7.org/fhir/R4/references.html#Reference"""

    reference: str | None = None
    display: str | None = None


class Period(_Part):
    """http://hl7.org/fhir/R4/datatypes.html#Period"""

    start: DateTimeText | None = None
    end: DateTimeText | None = None


class Quantity(_Part):
    """http://hl7.org/fhir/R4/datatypes.html#Quantity (a boolean is not a number here)."""

    value: float | None = None
    unit: str | None = None
    code: str | None = None
    system: str | None = None


class HumanName(_Part):
    """http://hl7.org/fhir/R4/datatypes.html#HumanName"""

    text: str | None = None
    family: str | None = None
    given: list[str] | None = None


class Resource(_Part):
    """Any resource: a type name and, when present, a string id."""

    resourceType: Annotated[str, msgspec.Meta(min_length=1)]
    id: str | None = None


class _Known(_Part, tag_field="resourceType", tag=True):
    """A resource type whose fields we read: its `resourceType` is its struct's name (the union's tag)."""

    id: str | None = None


class _Clinical(_Known):
    """Fields of Observation, Condition, MedicationRequest and Procedure we read."""

    status: str | None = None
    category: list[CodeableConcept] | CodeableConcept | None = None
    code: CodeableConcept | None = None
    encounter: Reference | None = None
    context: Reference | None = None


class Component(_Part):
    """http://hl7.org/fhir/R4/observation-definitions.html#Observation.component"""

    code: CodeableConcept | None = None
    valueQuantity: Quantity | None = None


class Observation(_Clinical):
    """http://hl7.org/fhir/R4/observation.html"""

    effectiveDateTime: DateTimeText | None = None
    effectiveInstant: DateTimeText | None = None
    effectivePeriod: Period | None = None
    issued: DateTimeText | None = None
    valueQuantity: Quantity | None = None
    component: list[Component] | None = None


class Condition(_Clinical):
    """http://hl7.org/fhir/R4/condition.html"""

    recordedDate: DateTimeText | None = None
    onsetDateTime: DateTimeText | None = None


class MedicationRequest(_Clinical):
    """http://hl7.org/fhir/R4/medicationrequest.html"""

    authoredOn: DateTimeText | None = None
    medicationCodeableConcept: CodeableConcept | None = None


class Procedure(_Clinical):
    """http://hl7.org/fhir/R4/procedure.html"""

    performedDateTime: DateTimeText | None = None
    performedPeriod: Period | None = None


class Hospitalization(_Part):
    """http://hl7.org/fhir/R4/encounter-definitions.html#Encounter.hospitalization"""

    admitSource: CodeableConcept | None = None
    dischargeDisposition: CodeableConcept | None = None


class EncounterLocation(_Part):
    """http://hl7.org/fhir/R4/encounter-definitions.html#Encounter.location (`fhirapp.patient.patient_unit`)."""

    location: Reference | None = None
    status: str | None = None


class Encounter(_Known):
    """http://hl7.org/fhir/R4/encounter.html"""

    status: str | None = None
    class_: Coding | None = msgspec.field(default=None, name="class")
    period: Period | None = None
    priority: CodeableConcept | None = None
    hospitalization: Hospitalization | None = None
    partOf: Reference | None = None
    location: list[EncounterLocation] | None = None


class Patient(_Known):
    """http://hl7.org/fhir/R4/patient.html"""

    birthDate: DateTimeText | None = None
    gender: str | None = None
    deceasedBoolean: bool | None = None
    deceasedDateTime: DateTimeText | None = None
    name: list[HumanName] | None = None


_BY_TYPE: dict[str, type[_Part]] = {
    cls.__name__: cls for cls in (Observation, Condition, MedicationRequest, Procedure, Encounter, Patient)
}


_KNOWN = list[Observation | Condition | MedicationRequest | Procedure | Encounter | Patient]


def resources_problems(values: Sequence[Any], *, nul_searched: bool = False) -> list[str | None]:
    """`resource_problem` of each value, in order. The usual case, every value a well-formed resource of a type
    we read with no NUL anywhere, costs one conversion and one search for the whole list; any problem, and only
    then, has each value checked on its own for its path and reason. `nul_searched`: the values were parsed
    from JSON text already searched for NUL (the search is then skipped)."""
    if values and _all_fine(values, nul_searched):
        return [None] * len(values)
    return [resource_problem(v) for v in values]


def _all_fine(values: Sequence[Any], nul_searched: bool) -> bool:
    try:
        msgspec.convert(values, _KNOWN, strict=True)
        return nul_searched or b"\\u0000" not in orjson.dumps(values)
    except (msgspec.ValidationError, TypeError):
        return False


def resource_problem(value: Any) -> str | None:
    """None when `value` is a resource whose fields we read have their FHIR types and that holds no NUL
    character; else what is wrong (the first path found and the reason)."""
    if not isinstance(value, dict):
        return f"not a JSON object ({type(value).__name__})"
    kind = value.get("resourceType")
    return _problem(_BY_TYPE.get(kind, Resource) if isinstance(kind, str) else Resource, value)


class _EntrySearch(_Part):
    mode: str | None = None


class BundleEntry(_Part):
    """http://hl7.org/fhir/R4/bundle-definitions.html#Bundle.entry (the resource is checked on its own)."""

    resource: Any = None
    search: _EntrySearch | None = None


class BundleLink(_Part):
    """http://hl7.org/fhir/R4/bundle-definitions.html#Bundle.link"""

    relation: str | None = None
    url: str | None = None


class Bundle(Resource):
    """http://hl7.org/fhir/R4/bundle.html: the parts a search result is read by."""

    entry: list[BundleEntry] | None = None
    link: list[BundleLink] | None = None


def bundle_problem(value: Any) -> str | None:
    """None when `value` is a Bundle whose entries and links have their FHIR shapes; else what is wrong.
    (A NUL inside an entry's resource is that resource's problem, found when it is checked on its own.)"""
    if not isinstance(value, dict):
        return f"not a JSON object ({type(value).__name__})"
    return _type_problem(Bundle, value)


def _problem(shape: type[_Part], value: dict[str, Any]) -> str | None:
    """The first path and reason `shape` finds wrong in `value` (types first, then NUL anywhere), or None."""
    return _type_problem(shape, value) or _nul_problem(value)


def _type_problem(shape: type[_Part], value: dict[str, Any]) -> str | None:
    try:
        msgspec.convert(value, shape, strict=True)
    except msgspec.ValidationError as exc:
        return _words(str(exc))
    return None


def _nul_problem(value: dict[str, Any]) -> str | None:
    """NUL anywhere (a key or a value): PostgreSQL text cannot hold it. One search of the compact JSON."""
    try:
        text = orjson.dumps(value)
    except TypeError as exc:  # e.g. an integer past 64 bits, from a parser other than ours
        return f"resource: {exc}"
    return "resource: holds a NUL character" if b"\\u0000" in text else None


_AT = re.compile(r"^(?P<why>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)


def _words(message: str) -> str:
    """msgspec's "Expected `str`, got `int` - at `$.code.coding[0].system`" as "code.coding.0.system: expected
    `str`, got `int`"; a date pattern failure in the words the readers of these notes know."""
    match = _AT.match(message)
    why, path = (match["why"], match["path"] or "") if match else (message, "")
    path = re.sub(r"\[(\d+)\]", r".\1", path).lstrip(".") or "resource"
    if "matching regex" in why:
        why = _DATE_WORDS
    return f"{path}: {why[:1].lower()}{why[1:]}"


def bundle_matches(bundle: dict[str, Any]) -> list[Any]:
    """The `match`-mode entries' resources of a Bundle that passed `bundle_problem` (each still unchecked)."""
    return [
        e["resource"]
        for e in bundle.get("entry") or ()
        if e.get("resource") is not None and (e.get("search") or {}).get("mode", "match") in ("match", None)
    ]


# The same shapes as plain dicts, read straight from JSON text: the CDS prefetch's fast path. A prefetch value
# (a resource or a searchset Bundle, ~500 Observations) parsed into dicts and then converted into the structs above
# was walked twice, and what it held that no reader reads (narratives, meta tags, subjects, displays of
# categories...) was built only to be freed. `prefetch_value_decode` reads the text once into dicts that hold just the
# fields these structs name, each checked as they check it. Derived from the structs, so the two cannot disagree:
# every struct becomes a TypedDict of its fields (numbers keep their JSON type), and the resource types we read
# become one TypedDict of all their fields (a field two of them share has one type; checked at import).


_typed_dict: Any = TypedDict  # called with fields computed from the structs
_JSON_INT = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]  # larger: parsed whole, as orjson reads it


def _dict_shape(shape: Any, made: dict[type, Any]) -> Any:
    """`shape` (a field's type) with each struct in it replaced by its TypedDict and `float` by int | float (a
    number keeps its JSON type, as orjson gives it)."""
    if isinstance(shape, type) and issubclass(shape, _Part):
        return _fields_dict(shape, made)
    if shape is float:
        return _JSON_INT | float
    args = get_args(shape)
    if get_origin(shape) is Annotated:
        return Annotated[(_dict_shape(args[0], made), *shape.__metadata__)]
    if get_origin(shape) is list:
        return list[_dict_shape(args[0], made)]  # type: ignore[misc]
    if get_origin(shape) in (Union, UnionType):
        return functools.reduce(operator.or_, (_dict_shape(arg, made) for arg in args))
    return shape


def _fields(shape: type[_Part], made: dict[type, Any]) -> dict[str, Any]:
    return {f.encode_name: _dict_shape(f.type, made) for f in msgspec.structs.fields(shape)}


def _fields_dict(shape: type[_Part], made: dict[type, Any]) -> Any:
    if shape not in made:
        made[shape] = _typed_dict(f"{shape.__name__}Fields", _fields(shape, made), total=False)
    return made[shape]


def _resource_fields(made: dict[type, Any]) -> dict[str, Any]:
    """Every field of the resource types we read (one type per name), a resource type name required."""
    merged: dict[str, Any] = {"resourceType": Required[Annotated[str, msgspec.Meta(min_length=1)]]}
    for shape in _BY_TYPE.values():
        for name, field_shape in _fields(shape, made).items():
            if merged.setdefault(name, field_shape) != field_shape:
                raise TypeError(f"fhirapp.shapes: field {name} has two shapes")
    return merged


def _prefetch_value_shape() -> Any:
    """A resource, or a Bundle whose entries hold resources (each of every field we read), or null."""
    made: dict[type, Any] = {}
    resource = _typed_dict("ResourceFields", _resource_fields(made), total=False)
    entry = {**_fields(BundleEntry, made), "resource": resource | None}
    made[BundleEntry] = _typed_dict("BundleEntryFields", entry, total=False)
    return _typed_dict("PrefetchValueFields", {**_fields(Bundle, made), **_resource_fields(made)}, total=False) | None


PREFETCH_VALUE = _prefetch_value_shape()  # for a decoder of a whole request (`cds_hooks.services.calls`)
_PREFETCH_VALUE = msgspec.json.Decoder(PREFETCH_VALUE)


def prefetch_value_decode(text: bytes) -> dict[str, Any] | None:
    """A prefetch value (a resource, a Bundle of them, or null) read from its JSON text into dicts holding only the
    fields we read, the Bundle's and every resource's checked as `bundle_problem` and `resource_problem` check
    them, NUL aside (a CDS request body holding one is refused whole). Raises msgspec.ValidationError when any
    part does not pass: the caller then parses the value whole and checks each resource on its own, so that a
    malformed one is set aside with its path and reason and the others kept."""
    return _PREFETCH_VALUE.decode(text)  # type: ignore[no-any-return]
