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
from typing import Any, NamedTuple

from fhirapp.errors import UpstreamFhirError
from fhirapp.shapes import resources_problems

Resource = dict[str, Any]


class SnapshotEntry(NamedTuple):
    """One resource and its provenance: the fetch-plan key that brought it, how, and when we received it."""

    resource: Resource
    key: str
    source: str  # "prefetch" (sent by the EHR with the hook) or "fetched" (read from its FHIR server)
    received_at: datetime


class SnapshotBatch(NamedTuple):
    """The resources one fetch-plan key brought at once, and their provenance (kept per batch, not per resource:
    a call adds ~500 resources in a few batches)."""

    resources: list[Resource]
    key: str
    source: str  # "prefetch" (sent by the EHR with the hook) or "fetched" (read from its FHIR server)
    received_at: datetime


@dataclass(slots=True)
class PatientSnapshot:
    """The resources found for one patient, where each key's data came from, and what could not be had."""

    patient_id: str
    as_of: datetime
    batches: list[SnapshotBatch] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # key -> prefetch | prefetch-null | fetched | ...
    unavailable: dict[str, str] = field(default_factory=dict)  # key -> reason (failed or too slow)
    errors: dict[str, UpstreamFhirError] = field(default_factory=dict)  # key -> the failure behind `unavailable`
    incomplete: list[str] = field(default_factory=list)  # keys whose paged Bundle could not be completed
    unusable: list[str] = field(default_factory=list)  # "key: what: why" of each malformed resource set aside
    _seen: set[tuple[str, str]] = field(default_factory=set, repr=False)  # (type, id) of the resources kept

    @property
    def resources(self) -> list[Resource]:
        """Every resource once (a resource found by two keys is kept from the first)."""
        return [r for batch in self.batches for r in batch.resources]

    @property
    def entries(self) -> list[SnapshotEntry]:
        """Every resource once, each with its provenance."""
        return [SnapshotEntry(r, *batch[1:]) for batch in self.batches for r in batch.resources]

    @property
    def patient(self) -> Resource | None:
        """The Patient resource, if one was found."""
        return next((r for r in self.resources if r.get("resourceType") == "Patient"), None)

    def add(
        self,
        resources: Iterable[Any],
        *,
        key: str,
        source: str,
        received_at: datetime,
        nul_searched: bool = False,
        checked: bool = False,
    ) -> None:
        """Tag and keep resources, dropping repeats of one already kept (same type and id) and setting aside
        (in `unusable`) any whose fields we read do not have their FHIR types (`fhirapp.shapes`; `checked`: they
        were read into those shapes already)."""
        if checked and not nul_searched:
            raise ValueError("resources read into checked shapes must come from text searched for NUL")
        kept = self._unseen(resources) if checked else self._usable(resources, key, nul_searched)
        if kept:
            self.batches.append(SnapshotBatch(kept, key, source, received_at))

    def _unseen(self, resources: Iterable[Resource]) -> list[Resource]:
        """Resources read into checked shapes (each a dict with a resourceType text), in order, less those already
        kept: one loop, as ~500 of them come with every CDS call."""
        seen, kept = self._seen, []
        for resource in resources:
            if isinstance(rid := resource.get("id"), str):
                ident = (resource["resourceType"], rid)
                if ident in seen:
                    continue
                seen.add(ident)
            kept.append(resource)
        return kept

    def _usable(self, resources: Iterable[Any], key: str, nul_searched: bool) -> list[Resource]:
        """Resources of any shape, in order, less those already kept; any whose fields we read do not have their
        FHIR types is set aside in `unusable`, with its path and reason."""
        seen = self._seen
        # (position, resource, (type, id) when it has a string id), in one comprehension
        fresh = [
            (index, r, ident)
            for index, r in enumerate(resources)
            if (
                ident := (str(r.get("resourceType")), r["id"])
                if isinstance(r, dict) and isinstance(r.get("id"), str)
                else None
            )
            is None
            or ident not in seen  # a repeat (two keys found it) is checked once
        ]
        problems = resources_problems([r for _, r, _ in fresh], nul_searched=nul_searched)
        kept: list[Resource] = []
        for (index, resource, ident), problem in zip(fresh, problems, strict=True):
            if problem is not None:
                self.unusable.append(f"{key}: {_name(resource, index)}: {problem}")
            elif ident is None or ident not in seen:
                if ident is not None:
                    seen.add(ident)
                kept.append(resource)
        return kept


def _name(resource: Any, index: int) -> str:
    """`Type/id` of a resource when both are usable text, else its position."""
    if (
        isinstance(resource, dict)
        and isinstance(resource.get("resourceType"), str)
        and isinstance(resource.get("id"), str)
    ):
        return f"{resource['resourceType'][:40]}/{resource['id'][:64]}".replace("\x00", "?")
    return f"entry {index}"
