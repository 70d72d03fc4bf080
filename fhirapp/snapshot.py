"""`PatientSnapshot`: one patient's FHIR resources as of a time, each tagged with where it came from and when.

Every door (CDS Hooks prefetch-or-fetch, the sidebar, later population and real-time runs) builds one
with `fhirapp.fetch.snapshot_fetch` from the plan of what the models declare they read, and hands its
resources to scoring, which gives each model exactly its declared share (`scoring.features.select`). So the
same patient at the same time gives every model the same inputs, whichever door asked and whatever else
the EHR sent along.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fhirapp.errors import UpstreamFhirError
from fhirapp.shapes import resources_problems

Resource = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SnapshotEntry:
    """One resource and its provenance: the fetch-plan key that brought it, how, and when we received it."""

    resource: Resource
    key: str
    source: str  # "prefetch" (sent by the EHR with the hook) or "fetched" (read from its FHIR server)
    received_at: datetime


@dataclass(slots=True)
class PatientSnapshot:
    """The resources found for one patient, where each key's data came from, and what could not be had."""

    patient_id: str
    as_of: datetime
    entries: list[SnapshotEntry] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # key -> prefetch | prefetch-null | fetched | ...
    unavailable: dict[str, str] = field(default_factory=dict)  # key -> reason (failed or too slow)
    errors: dict[str, UpstreamFhirError] = field(default_factory=dict)  # key -> the failure behind `unavailable`
    incomplete: list[str] = field(default_factory=list)  # keys whose paged Bundle could not be completed
    unusable: list[str] = field(default_factory=list)  # "key: what: why" of each malformed resource set aside
    _seen: set[tuple[str, str]] = field(default_factory=set, repr=False)  # (type, id) of the entries kept

    @property
    def resources(self) -> list[Resource]:
        """Every resource once (a resource found by two keys is kept from the first)."""
        return [e.resource for e in self.entries]

    @property
    def patient(self) -> Resource | None:
        """The Patient resource, if one was found."""
        return next((r for r in self.resources if r.get("resourceType") == "Patient"), None)

    def add(self, resources: Iterable[Any], *, key: str, source: str, received_at: datetime) -> None:
        """Tag and keep resources, dropping repeats of one already kept (same type and id) and setting aside
        (in `unusable`) any whose fields we read do not have their FHIR types (`fhirapp.shapes`)."""
        fresh = [(index, r, _ident(r)) for index, r in enumerate(resources)]
        fresh = [(index, r, ident) for index, r, ident in fresh if ident is None or ident not in self._seen]
        problems = resources_problems([r for _, r, _ in fresh])  # a repeat (two keys found it) is checked once
        for (index, resource, ident), problem in zip(fresh, problems, strict=True):
            if problem is not None:
                self.unusable.append(f"{key}: {_name(resource, index)}: {problem}")
            elif ident is None or ident not in self._seen:
                if ident is not None:
                    self._seen.add(ident)
                self.entries.append(SnapshotEntry(resource, key, source, received_at))


def _name(resource: Any, index: int) -> str:
    """`Type/id` of a resource when both are usable text, else its position."""
    if (
        isinstance(resource, dict)
        and isinstance(resource.get("resourceType"), str)
        and isinstance(resource.get("id"), str)
    ):
        return f"{resource['resourceType'][:40]}/{resource['id'][:64]}".replace("\x00", "?")
    return f"entry {index}"


def _ident(resource: object) -> tuple[str, str] | None:
    """(type, id) of a resource with a string id, else None (kept without de-duplication)."""
    if not isinstance(resource, dict) or not isinstance(resource.get("id"), str):
        return None
    return str(resource.get("resourceType")), resource["id"]
