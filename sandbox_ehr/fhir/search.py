"""FHIR search parameters -> a filtered, ordered queryset (R4 search.html semantics, subset).

Tokens: `system|code`, `|code` (no system), `code` (any system), `system|` (any code); a comma
separates alternatives (OR), repeating a parameter ANDs it. Dates take the prefixes eq, ne, gt, lt,
ge, le, compared as ranges (search.html#prefix). `_include=[type]:[param](:[target])` names a
reference parameter of the searched type, `_revinclude=[type]:[param](:[target])` one of any searchable
type that points back at a match, and `:iterate` on either applies it to included resources too
(search.html#include; sandbox_ehr/fhir/includes.py follows them). Anything else answers 400 rather than
being ignored.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet

from sandbox_ehr.fhir.dates import date_range
from sandbox_ehr.fhir.errors import UnsupportedSearch
from sandbox_ehr.fhir.indexing import reference_key
from sandbox_ehr.fhir.models import FhirResource, FhirToken
from sandbox_ehr.fhir.params import (
    DEFAULT_COUNT,
    INCLUDE_KINDS,
    MAX_COUNT,
    RESULT_PARAMS,
    SEARCH_PARAMS,
    Param,
    all_include_values,
    include_values,
)

_COMMA_RE = re.compile(r"(?<!\\),")
_DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le")
_UNSUPPORTED_PREFIXES = ("sa", "eb", "ap")
_FORMATS = ("json", "application/json", "application/fhir+json")
_STRING_MODIFIERS = {"": "startswith", "exact": "exact", "contains": "contains"}
_TYPE_RE = re.compile(r"^[A-Z][A-Za-z]+$")


@dataclass(frozen=True)
class Include:
    """One `_include` (or, `reverse`, `_revinclude`): a reference parameter of `source`, maybe narrowed to a target.

    Without `iterate` it applies to the matches only; with it, also to every resource it or another
    directive included (search.html#include).
    """

    source: str
    param: str
    kind: str
    target: str | None = None
    reverse: bool = False
    iterate: bool = False


@dataclass(frozen=True)
class SearchQuery:
    """A parsed search: the queryset (filtered and ordered), the page asked for, `_include`s and `_revinclude`s."""

    queryset: QuerySet[FhirResource]
    count: int
    offset: int
    includes: tuple[Include, ...] = field(default=())


def _include(resource_type: str, raw_name: str, value: str) -> Include:
    """Parse one `_include`/`_revinclude` value (search.html#include); 400 naming it when unsupported.

    A plain `_include` names a parameter of the searched type; `_revinclude` and `:iterate` may name
    one of any searchable type (the resources it adds, or the included resources it follows).
    """
    name, _, modifier = raw_name.partition(":")
    if modifier not in ("", "iterate"):
        raise UnsupportedSearch(f"'{raw_name}={value}' is not supported (the only modifier is :iterate).")
    any_source = name == "_revinclude" or modifier == "iterate"
    source, _, rest = value.partition(":")
    param_name, _, target = rest.partition(":")
    param = SEARCH_PARAMS.get(source, {}).get(param_name) if any_source or source == resource_type else None
    valid_target = not target or (
        _TYPE_RE.match(target) and (param is None or param.kind != "patient" or target == "Patient")
    )
    if param is None or param.kind not in INCLUDE_KINDS or not valid_target:
        raise UnsupportedSearch(
            f"{raw_name} '{value}' is not supported on a {resource_type} search.",
            extra={"supported": all_include_values() if any_source else include_values(resource_type)},
        )
    return Include(
        source, param_name, param.kind, target or None, reverse=name == "_revinclude", iterate=modifier == "iterate"
    )


def _alternatives(value: str) -> list[str]:
    return [part.replace("\\,", ",") for part in _COMMA_RE.split(value) if part != ""]


def _token_q(value: str) -> Q:
    if "|" not in value:
        return Q(code=value)
    system, code = value.split("|", 1)
    if not code:
        return Q(system=system)
    return Q(system=system, code=code)


def _tokens(name: str, patients: list[str] | None) -> QuerySet[FhirToken]:
    """Token rows of one parameter, narrowed to the search's patients when it names them."""
    tokens = FhirToken.objects.filter(resource=OuterRef("pk"), param=name)
    return tokens if patients is None else tokens.filter(patient_id__in=patients)


def _token_filter(name: str, values: list[str], patients: list[str] | None) -> Q:
    alternatives = Q()
    for value in values:
        alternatives |= _token_q(value)
    return Q(Exists(_tokens(name, patients).filter(alternatives)))


def _patient_ids(name: str, values: list[str], modifier: str) -> list[str]:
    if modifier not in ("", "Patient"):
        raise UnsupportedSearch(f"'{name}:{modifier}' is not supported (only Patient references).")
    ids = []
    for value in values:
        key = reference_key(value) if "/" in value else f"Patient/{value}"
        if key and key.startswith("Patient/"):
            ids.append(key.split("/", 1)[1])
    return ids


def _reference_keys(name: str, values: list[str], default_type: str | None) -> list[str]:
    keys = []
    for value in values:
        key = reference_key(value) if "/" in value else (f"{default_type}/{value}" if default_type else None)
        if key is None:
            raise UnsupportedSearch(f"'{name}={value}': give the reference as Type/id.")
        keys.append(key)
    return keys


def _string_filter(name: str, values: list[str], modifier: str, patients: list[str] | None) -> Q:
    if modifier not in _STRING_MODIFIERS:
        raise UnsupportedSearch(f"The modifier ':{modifier}' is not supported on '{name}'.")
    lookup = f"code__{_STRING_MODIFIERS[modifier]}"
    alternatives = Q()
    for value in values:
        words = value.lower().split()
        every = Q()
        for word in words:
            every &= Q(Exists(_tokens(name, patients).filter(**{lookup: word})))
        alternatives |= every
    return alternatives


def _date_q(prefix: str, lo: datetime, hi: datetime) -> Q:
    """Target range [date_start, date_end) against the search range [lo, hi) (search.html#prefix)."""
    eq = Q(date_start__gte=lo, date_end__lte=hi)
    return {
        "eq": eq,
        "ne": Q(date_start__isnull=False) & ~eq,
        "gt": Q(date_end__gt=hi),
        "lt": Q(date_start__lt=lo),
        "ge": Q(date_end__gt=hi) | eq,
        "le": Q(date_start__lt=lo) | eq,
    }[prefix]


def _date_filter(name: str, values: list[str]) -> Q:
    alternatives = Q()
    for value in values:
        prefix, text = (value[:2], value[2:]) if value[:2].isalpha() else ("eq", value)
        if prefix in _UNSUPPORTED_PREFIXES or prefix not in _DATE_PREFIXES:
            raise UnsupportedSearch(f"The date prefix '{prefix}' is not supported on '{name}'.")
        lo, hi = date_range(text)
        alternatives |= _date_q(prefix, lo, hi)
    return alternatives


def _last_updated_filter(values: list[str]) -> Q:
    """`_lastUpdated` against the stored instant (a point): gt/ge/lt/le/eq on the value's own precision range,
    a fractional second being precise to the microsecond (a client passes back a `meta.lastUpdated` it read)."""
    alternatives = Q()
    for value in values:
        prefix, text = (value[:2], value[2:]) if value[:2].isalpha() else ("eq", value)
        if prefix not in ("eq", "gt", "ge", "lt", "le"):
            raise UnsupportedSearch(f"The prefix '{prefix}' is not supported on '_lastUpdated'.")
        lo, hi = date_range(text)
        hi = lo + timedelta(microseconds=1) if "." in text else hi
        alternatives |= {
            "eq": Q(last_updated__gte=lo, last_updated__lt=hi),
            "gt": Q(last_updated__gte=hi),
            "ge": Q(last_updated__gte=lo),
            "lt": Q(last_updated__lt=lo),
            "le": Q(last_updated__lt=hi),
        }[prefix]
    return alternatives


def _param_filter(name: str, modifier: str, param: Param, values: list[str], patients: list[str] | None) -> Q:
    if param.kind == "patient":
        return Q(patient_id__in=_patient_ids(name, values, modifier))
    if modifier and param.kind != "string":
        raise UnsupportedSearch(f"The modifier ':{modifier}' is not supported on '{name}'.")
    if param.kind == "token":
        return _token_filter(name, values, patients)
    if param.kind == "status":
        return Q(status__in=[v.split("|", 1)[-1] for v in values])
    if param.kind == "reference":
        default_type = "Encounter" if name == "encounter" else None
        keys = _reference_keys(name, values, default_type)
        return Q(Exists(_tokens(name, patients).filter(code__in=keys)))
    if param.kind == "string":
        return _string_filter(name, values, modifier, patients)
    return _date_filter(name, values)


def _searched_patients(resource_type: str, params: list[tuple[str, str]], compartment: str | None) -> list[str] | None:
    """The patients every match must belong to, if the search says (compartment, patient/subject)."""
    if compartment is not None:
        return [compartment]
    supported = SEARCH_PARAMS[resource_type]
    for raw_name, value in params:
        name, _, modifier = raw_name.partition(":")
        if name in supported and supported[name].kind == "patient" and modifier in ("", "Patient"):
            return _patient_ids(name, _alternatives(value), modifier)
    return None


def _int_param(name: str, value: str, *, minimum: int) -> int:
    if not value.isdigit() or int(value) < minimum:
        raise UnsupportedSearch(f"'{name}' must be an integer of at least {minimum}.")
    return int(value)


def _ordering(resource_type: str, value: str) -> list[str]:
    allowed = {"_id": "resource_id", "_lastUpdated": "last_updated"}
    allowed |= {n: "date_start" for n, p in SEARCH_PARAMS[resource_type].items() if p.kind == "date"}
    order = []
    for key in value.split(","):
        descending = key.startswith("-")
        field = allowed.get(key.lstrip("-"))
        if field is None:
            raise UnsupportedSearch(
                f"Sorting {resource_type} by '{key}' is not supported.", extra={"supported": sorted(allowed)}
            )
        order.append(f"-{field}" if descending else field)
    return [*order, "pk"]


def search_build(resource_type: str, params: list[tuple[str, str]], *, compartment: str | None) -> SearchQuery:
    """Parse `params` (name, value) pairs for `resource_type`; restrict to a patient compartment if given."""
    if resource_type not in SEARCH_PARAMS:
        raise UnsupportedSearch(
            f"Search is not supported on {resource_type}.", extra={"searchable": sorted(SEARCH_PARAMS)}
        )
    supported = SEARCH_PARAMS[resource_type]
    patients = _searched_patients(resource_type, params, compartment)
    queryset = FhirResource.objects.live().filter(resource_type=resource_type)
    count, offset, order = DEFAULT_COUNT, 0, ["pk"]
    includes: list[Include] = []
    for raw_name, value in params:
        name, _, modifier = raw_name.partition(":")
        if name in ("_include", "_revinclude"):
            includes.append(_include(resource_type, raw_name, value))
            continue
        if name in RESULT_PARAMS and not modifier:
            if name == "_id":
                queryset = queryset.filter(resource_id__in=_alternatives(value))
            elif name == "_lastUpdated":
                queryset = queryset.filter(_last_updated_filter(_alternatives(value)))
            elif name == "_count":
                count = min(_int_param(name, value, minimum=0), MAX_COUNT)
            elif name == "_offset":
                offset = _int_param(name, value, minimum=0)
            elif name == "_sort":
                order = _ordering(resource_type, value)
            elif value not in _FORMATS:
                raise UnsupportedSearch(f"_format '{value}' is not supported: this server speaks JSON.")
            continue
        if name not in supported:
            raise UnsupportedSearch(
                f"The search parameter '{raw_name}' is not supported on {resource_type}.",
                extra={"supported": sorted(supported) + sorted(RESULT_PARAMS - {"_offset"})},
            )
        values = _alternatives(value)
        if not values:
            raise UnsupportedSearch(f"The search parameter '{raw_name}' has no value.")
        queryset = queryset.filter(_param_filter(name, modifier, supported[name], values, patients))
    if compartment is not None:
        queryset = queryset.filter(patient_id=compartment)
    return SearchQuery(queryset.order_by(*order), count, offset, tuple(dict.fromkeys(includes)))
