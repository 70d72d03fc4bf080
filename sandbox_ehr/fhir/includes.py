"""`_include` and `_revinclude` (with `:iterate`) of a searchset page (R4 search.html#include): what they add."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef

from sandbox_ehr.fhir.errors import SearchTooCostly
from sandbox_ehr.fhir.models import FhirResource, FhirToken
from sandbox_ehr.fhir.params import MAX_INCLUDE_ROUNDS, MAX_INCLUDED
from sandbox_ehr.fhir.permissions import SHARED_TYPES, Grant, compartment, readable
from sandbox_ehr.fhir.search import Include
from sandbox_ehr.fhir.store import ids_by_type

_COLUMNS = ("pk", "resource_type", "resource_id", "content", "patient_id")


@dataclass(frozen=True)
class Found:
    """One resource of a searchset: its row's pk, `Type/id`, JSON text and compartment patient."""

    pk: int
    key: str
    content: str
    patient: str

    @property
    def resource_type(self) -> str:
        """The type part of `key`."""
        return self.key.partition("/")[0]


def _found(rows: Iterable[tuple[Any, ...]]) -> list[Found]:
    return [Found(pk, f"{rtype}/{rid}", content, patient) for pk, rtype, rid, content, patient in rows]


def _readable(found: list[Found], grant: Grant | None) -> list[Found]:
    return [f for f in found if readable(grant, f.resource_type, f.patient)]


def _referenced(include: Include, frontier: list[Found]) -> list[str]:
    """'Type/id' keys a forward `_include` names from the frontier's resources of its source type."""
    sources = [f for f in frontier if f.resource_type == include.source]
    if not sources:
        return []
    if include.kind == "patient":
        keys = [f"Patient/{f.patient}" for f in sources if f.patient]
    else:
        tokens = FhirToken.objects.filter(resource_id__in=[f.pk for f in sources], param=include.param)
        keys = list(tokens.order_by("pk").values_list("code", flat=True))
    return [k for k in keys if include.target is None or k.startswith(f"{include.target}/")]


def _forward(include: Include, frontier: list[Found], skip: set[str], grant: Grant | None) -> list[Found]:
    """The live, readable resources a forward `_include` names, in reference order."""
    wanted = [k for k in dict.fromkeys(_referenced(include, frontier)) if k not in skip]
    found: dict[str, Found] = {}
    for rtype, ids in ids_by_type((rtype, rid) for rtype, _, rid in (key.partition("/") for key in wanted)):
        rows = FhirResource.objects.live().filter(resource_type=rtype, resource_id__in=ids)
        found.update((f.key, f) for f in _found(rows.values_list(*_COLUMNS)))
    return _readable([found[k] for k in wanted if k in found], grant)


def _reverse(include: Include, frontier: list[Found], skip: set[str], grant: Grant | None, limit: int) -> list[Found]:
    """Up to `limit` live, readable resources of the `_revinclude`'s source type pointing at the frontier."""
    if grant is not None and not grant.allows(include.source, "read"):
        return []  # left out, as `readable` leaves out what `_include` adds
    targets = [f for f in frontier if include.target in (None, f.resource_type)]
    rows = FhirResource.objects.live().filter(resource_type=include.source)
    if include.kind == "patient":
        patients = [f.key.partition("/")[2] for f in targets if f.resource_type == "Patient"]
        if not patients:
            return []
        rows = rows.filter(patient_id__in=patients)
    else:
        if not targets:
            return []
        tokens = FhirToken.objects.filter(
            resource=OuterRef("pk"), param=include.param, code__in=[f.key for f in targets]
        )
        rows = rows.filter(Exists(tokens))
    patient = compartment(grant, include.source, "read")
    if patient is not None and include.source not in SHARED_TYPES:  # what `readable` drops, before the limit
        rows = rows.filter(patient_id=patient)
    skipped = [key.partition("/")[2] for key in skip if key.startswith(f"{include.source}/")]
    rows = rows.exclude(resource_id__in=skipped).order_by("pk")
    return _readable(_found(rows.values_list(*_COLUMNS)[:limit]), grant)


def _too_many() -> SearchTooCostly:
    return SearchTooCostly(
        f"_include/_revinclude would add more than {MAX_INCLUDED} resources to this page: "
        "narrow the search or lower _count.",
        extra={"max_included": MAX_INCLUDED},
    )


def _round(
    directives: tuple[Include, ...], frontier: list[Found], seen: set[str], grant: Grant | None, room: int
) -> list[Found]:
    """What the directives add from the frontier, new ones only, in directive order; 400 past `room`."""
    new: dict[str, Found] = {}
    for include in directives:
        skip = seen | new.keys()
        if include.reverse:
            added = _reverse(include, frontier, skip, grant, room - len(new) + 1)
        else:
            added = _forward(include, frontier, skip, grant)
        new.update((f.key, f) for f in added)
        if len(new) > room:
            raise _too_many()
    return list(new.values())


def included_resources(includes: tuple[Include, ...], matches: list[Found], *, grant: Grant | None) -> list[Found]:
    """What a page's `_include`s and `_revinclude`s add: live, readable by the token, once each, never a match.

    The first round applies every directive to the matches; each later one applies the `:iterate`
    directives to what the round before added, until nothing new comes. More than MAX_INCLUDE_ROUNDS
    rounds or MAX_INCLUDED resources answer 400 (too-costly) rather than a silently cut Bundle.
    """
    iterating = tuple(i for i in includes if i.iterate)
    seen = {f.key for f in matches}
    included: list[Found] = []
    new, rounds = _round(includes, matches, seen, grant, MAX_INCLUDED), 1
    while new:
        included += new
        seen.update(f.key for f in new)
        new = _round(iterating, new, seen, grant, MAX_INCLUDED - len(included))
        if new and rounds == MAX_INCLUDE_ROUNDS:
            raise SearchTooCostly(
                f":iterate still adds resources after {MAX_INCLUDE_ROUNDS} rounds, the most this "
                "server follows: name fewer :iterate directives or narrow the search.",
                extra={"max_rounds": MAX_INCLUDE_ROUNDS},
            )
        rounds += 1
    return included
