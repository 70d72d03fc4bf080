"""A patient's online state: the FHIR resources the vitals models read, in Redis, shared by every consumer.

Built once per patient with the one patient-data path (`fhirapp.fetch.snapshot_fetch` over the fetch plan of
the vitals models' requirements, SMART Backend Services token of the patient's EHR registration, as the
population door reads the EHR), plus the device vitals we keep ourselves (`DeviceVital`: the EHR never had
them). Then maintained incrementally: each event becomes one Observation field of the patient's hash
(`realtime.observations`), so a rescore reads the hash instead of fetching 48 h of data again.

One Redis hash per patient: `meta` (when and how it was built), `rev` (a revision every change of its fields
increments, in the same transaction) and one field per resource (`Type/id`). Writing a field is idempotent (the
same event twice writes the same value), and fields only grow, so consumers writing at once never lose each
other's events. A hash without `meta` (never built, dropped by a refresh, or expired after
REALTIME_STATE_TTL_SECONDS without events) is built again. The state describes the moment of its newest
Observation (`data_as_of`: what a rescore is scored as of); Observations older than the models' look-back before
that moment are pruned when the state is read.

Every sample is kept within the look-back: the features read all of them (a window's mean is over every value
in it, `scoring.features.extract`), so no sample can be dropped before it leaves the look-back without changing
a score. What a rescore saves is the reading: a consumer keeps the states it read, parsed
(`realtime.state_copies`), and after folding in its events under the patient's lock it reads the whole hash
again only when the revision says someone else changed it.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson
import redis
from django.conf import settings
from django.utils import timezone

from audit.services import audit_record_create
from fhirapp.client import FhirClient
from fhirapp.errors import FhirRequestRejected
from fhirapp.fetch import fetch_plan, snapshot_fetch
from fhirapp.snapshot import PatientSnapshot
from realtime.errors import StateUnavailable
from realtime.events import VitalEvent
from realtime.models import DeviceVital
from realtime.models_read import lookback_hours, vitals_models
from realtime.observations import Resource, StateKey, observation_from_event, state_key
from scoring.features.fhir_index import ObservationFacts
from scoring.features.kept import KeptShares
from scoring.features.select import ParsedResources, resource_facts
from smart_launch.backend import backend_access_token
from smart_launch.models import EhrRegistration

logger = logging.getLogger(__name__)
META = "meta"
REV = "rev"
PRUNE_MARGIN_HOURS = 1.0  # kept a little past the look-back, so a rescore at a slightly later as-of has it


def state_name(registration_id: int, patient: str) -> str:
    """The Redis key of a patient's state (`patient` is the "Patient/<id>" reference)."""
    return f"stratify:rt:state:{registration_id}:{patient}"


class State(NamedTuple):
    """A built state as read: its meta, its resources (in field order), the moment they describe, and the
    resources with their facts as scoring reads them (kept with each field, so a rescore reads only new ones)."""

    meta: dict[str, Any]
    resources: list[Resource]
    as_of: datetime
    parsed: ParsedResources


@dataclass(slots=True)
class StateCopy:
    """A state as parsed in this process: its meta (raw), its revision and each field's `Field`, kept in field
    order (`keys`, with `resources` and `facts` beside it) and in time order (`timeline`: the dated Observations'
    (time, field)), so a view costs what changed, not what the state holds. `changed` holds the fields written
    since the last view, which the models' shares (`kept`) have not taken in yet. Made by `StateCopy.of`."""

    meta: bytes
    rev: int
    fields: dict[str, Field]
    kept: KeptShares
    keys: list[str]
    resources: list[Resource]
    facts: list[ObservationFacts | None]
    timeline: list[tuple[datetime, str]]
    changed: dict[str, Field]

    @classmethod
    def of(cls, meta: bytes, rev: int, fields: dict[str, Field]) -> StateCopy:
        """A copy of a whole hash's fields (each one changed: the shares take them all in at the first view)."""
        keys = sorted(fields)
        ordered = [fields[key] for key in keys]
        timeline = sorted((f.when, key) for key, f in fields.items() if f.when is not None)
        resources, facts = [f.resource for f in ordered], [f.facts for f in ordered]
        return cls(meta, rev, fields, KeptShares(), keys, resources, facts, timeline, dict(fields))

    def put(self, key: str, new: Field) -> None:
        """Write one field (new, or replacing its value)."""
        old, i = self.fields.get(key), bisect.bisect_left(self.keys, key)
        if old is None:
            self.keys.insert(i, key)
            self.resources.insert(i, new.resource)
            self.facts.insert(i, new.facts)
        else:
            self.resources[i], self.facts[i] = new.resource, new.facts
            if old.when is not None:
                del self.timeline[bisect.bisect_left(self.timeline, (old.when, key))]
        if new.when is not None:
            bisect.insort(self.timeline, (new.when, key))
        self.fields[key] = self.changed[key] = new

    def newest(self) -> datetime | None:
        """The newest Observation's time (None when none is dated)."""
        return self.timeline[-1][0] if self.timeline else None

    def prune(self, horizon: datetime) -> list[str]:
        """Drop the Observations dated before `horizon`; their fields."""
        cut = bisect.bisect_left(self.timeline, (horizon, ""))
        old = [key for _, key in self.timeline[:cut]]
        del self.timeline[:cut]
        for key in old:
            i = bisect.bisect_left(self.keys, key)
            del self.keys[i], self.resources[i], self.facts[i], self.fields[key]
            self.changed.pop(key, None)
        return old


def state_read(client: redis.Redis, registration_id: int, patient: str) -> State | None:
    """The built state, pruned of Observations past the look-back before its as-of; None when not built."""
    name = state_name(registration_id, patient)
    copy = state_fetch(client, name)
    return None if copy is None else state_view(client, name, copy)


def state_fetch(client: redis.Redis, name: str) -> StateCopy | None:
    """The whole hash `name`, parsed (one HGETALL: its fields and revision agree); None when not built."""
    raw: dict[bytes, bytes] = client.hgetall(name)  # type: ignore[assignment]
    meta = raw.pop(META.encode(), None)
    rev = int(raw.pop(REV.encode(), b"0"))
    if meta is None:
        return None
    return StateCopy.of(meta, rev, {field.decode(): field_parse(value) for field, value in raw.items()})


class Field(NamedTuple):
    """A field's resource, its effective time (Observations), and its facts as scoring reads them."""

    resource: Resource
    when: datetime | None
    facts: ObservationFacts | None


def field_parse(raw: bytes) -> Field:
    """A field's resource, its effective time and facts."""
    resource = orjson.loads(raw)
    facts = resource_facts(resource)
    when = None if facts is None or facts.effective is None else datetime.fromtimestamp(facts.effective, UTC)
    return Field(resource, when, facts)


def state_view(client: redis.Redis, name: str, copy: StateCopy) -> State:
    """The state `copy` holds, in field order, once the Observations past the look-back before its as-of are
    pruned from it and from the hash `name` (one transaction, which counts as a revision)."""
    as_of = data_as_of([copy.newest()])
    old = copy.prune(as_of - timedelta(hours=lookback_hours() + PRUNE_MARGIN_HOURS))
    if old:
        pipe = client.pipeline(transaction=True)
        pipe.hdel(name, *old)
        pipe.hincrby(name, REV, 1)
        copy.rev = int(pipe.execute()[1])
    copy.kept.update([(key, f.resource, f.facts) for key, f in copy.changed.items()], old)
    copy.changed = {}
    resources = list(copy.resources)
    return State(
        orjson.loads(copy.meta), resources, as_of, ParsedResources(resources, list(copy.facts), kept=copy.kept)
    )


def data_as_of(times: Iterable[datetime | None], now: datetime | None = None) -> datetime:
    """The moment a patient's state describes, from its Observations' effective times: the newest, never later
    than now (now when there is none). A rescore is scored as of it, and the look-back is counted back from it,
    so a score's as-of is the time of the data it read (a replayed or late-sent hour is scored as that hour, its
    data age is the truth at that moment) and never a later moment that no datum describes."""
    now = now or timezone.now()
    return min(max((t for t in times if t is not None), default=now), now)


class Applied(NamedTuple):
    """What `state_apply` did to one patient's state: the revision it brought it to, its meta then (None: not
    built), and the fields it wrote (raw JSON, the last write of each)."""

    rev: int
    meta: bytes | None
    fields: dict[str, bytes]


def state_apply(
    client: redis.Redis, events: Sequence[VitalEvent], *, device_sources: frozenset[str]
) -> dict[str, Applied]:
    """Fold events into their patients' states (idempotent) in one transaction, which increments each state's
    revision once; what it did, by state name. A panel component updates its panel as this batch left it, else
    as the state holds it."""
    written: dict[str, dict[str, bytes]] = {}
    for event in events:
        name = state_name(event.registration_id, event.patient)
        key = state_key(event, from_device=event.source in device_sources)
        mine = written.setdefault(name, {})
        existing = _existing(client, name, key, mine)
        mine[key.field] = orjson.dumps(observation_from_event(event, key, existing))
    pipe = client.pipeline(transaction=True)
    for name, fields in written.items():
        pipe.hset(name, mapping=fields)  # type: ignore[arg-type]
        pipe.hincrby(name, REV, 1)
        pipe.hget(name, META)
        pipe.expire(name, settings.REALTIME_STATE_TTL_SECONDS)
    done = pipe.execute()
    return {
        name: Applied(int(done[4 * i + 1]), done[4 * i + 2], fields) for i, (name, fields) in enumerate(written.items())
    }


def _existing(client: redis.Redis, name: str, key: StateKey, written: dict[str, bytes]) -> Resource | None:
    if key.component is None:
        return None
    raw = written.get(key.field) or client.hget(name, key.field)
    return orjson.loads(raw) if isinstance(raw, bytes) else None


def state_drop(client: redis.Redis, registration_id: int, patient: str) -> None:
    """Forget a patient's state: it is built again from the EHR at their next event."""
    client.delete(state_name(registration_id, patient))


def state_build(client: redis.Redis, registration_id: int, patient: str) -> None:
    """Build a patient's state from their EHR (snapshot of the vitals models' requirements) and our device
    vitals, then mark it built; audited (`realtime_state`). Raises StateUnavailable when the EHR fails."""
    registration = EhrRegistration.objects.get(pk=registration_id)
    now = timezone.now()
    snapshot = _snapshot(registration, patient.removeprefix("Patient/"), now)
    devices = _device_resources(registration_id, patient, now)
    name = state_name(registration_id, patient)
    fields = {_field(r): orjson.dumps(r) for r in snapshot.resources}
    fields.update({key.field: orjson.dumps(resource) for key, resource in devices})
    meta = {"built_at": now.isoformat(), "ehr": len(snapshot.resources), "device": len(devices)}
    pipe = client.pipeline(transaction=True)
    if fields:
        pipe.hset(name, mapping=fields)  # type: ignore[arg-type]
    pipe.hset(name, META, orjson.dumps(meta))
    pipe.expire(name, settings.REALTIME_STATE_TTL_SECONDS)
    pipe.execute()
    audit_record_create(
        action="realtime_state",
        actor="realtime",
        patient_id=patient.removeprefix("Patient/"),
        detail={"registration": registration_id, **meta, "sources": snapshot.sources},
    )


def _field(resource: Resource) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def _snapshot(registration: EhrRegistration, patient_id: str, as_of: datetime) -> PatientSnapshot:
    """The EHR's data the vitals models read, with a Backend Services token (fetched afresh once on a 401)."""
    plan = fetch_plan(m.requirements for m in vitals_models())
    scope = " ".join(dict.fromkeys(f"system/{q.template.split('?')[0].split('/')[0]}.read" for q in plan))
    for fresh in (False, True):
        client = FhirClient(registration.iss, backend_access_token(iss=registration.iss, scope=scope, fresh=fresh))
        deadline = time.monotonic() + settings.REALTIME_FETCH_SECONDS
        snapshot = snapshot_fetch(
            plan=plan,
            patient_id=patient_id,
            context={"patientId": patient_id},
            client=client,
            deadline=deadline,
            as_of=as_of,
        )
        if not snapshot.unavailable:
            return snapshot
        if not any(isinstance(e, FhirRequestRejected) and e.upstream_status == 401 for e in snapshot.errors.values()):
            break
    raise StateUnavailable(
        "The patient's data could not be read from the EHR.", extra={"unavailable": snapshot.unavailable}
    )


def _device_resources(registration_id: int, patient: str, now: datetime) -> list[tuple[StateKey, Resource]]:
    """Our stored device vitals of the patient within the look-back, as the Observations events make."""
    since = now - timedelta(hours=lookback_hours() + PRUNE_MARGIN_HOURS)
    rows = DeviceVital.objects.filter(registration_id=registration_id, patient=patient, event_time__gte=since)
    out = []
    for row in rows.select_related("source").order_by("event_time"):
        event = row.as_event()
        key = state_key(event, from_device=True)
        out.append((key, observation_from_event(event, key)))
    return out
