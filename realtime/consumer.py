"""The stream consumer (`manage.py realtime_consume`): at-least-once delivery, idempotent processing.

One process per `Consumer`, any number of them in the consumer group `rescore`. Each step takes entries in
this order: its own pending ones (left by an earlier run under the same name), entries pending on any consumer
for longer than REALTIME_CLAIM_IDLE_MS (XAUTOCLAIM: that consumer died or hangs), else new ones (XREADGROUP,
blocking up to REALTIME_BLOCK_MS). An entry is acknowledged (XACK) only after its work committed, so a consumer
killed at any point leaves its entries pending for another one; processing them again changes nothing (the
state's fields are idempotent, and an event a committed rescore took in is not rescored: `realtime.rescore`).
An entry delivered REALTIME_MAX_DELIVERIES times without success goes to the dead-letter stream
`stratify:vitals:dead` (logged) so one poisoned entry cannot hold the others back forever.

Events are grouped by patient; each patient's events are applied and scored under a per-patient Redis lock (one
rescore per patient per step, however many of their events arrived), from this process's parsed copy of the state
when no one else changed it since (`realtime.state_copies`). The step's rescores are stored together, in one
transaction about every STORE_SECONDS of work (each alone when that fails: `realtime.rescore.rescores_store`),
before those patients' locks are released (see `Consumer._patients`). A refresh entry drops the patient's state.
After each step the stream is trimmed of the entries every consumer has acknowledged, so its length is what is left
to do. Housekeeping every few seconds: the outbox relay of stored device events not yet streamed, the same trimming
(a step that only dead-lettered took no entries), and an error logged when what is left nears
REALTIME_STREAM_MAXLEN, the cap appends keep the stream under (`realtime.stream.stream_add`). The dead-letter stream
is capped the same way and loses what is older than REALTIME_RETENTION_DAYS daily (`realtime.retention`).

The states a consumer keeps parsed are hundreds of thousands of small containers. Python's full garbage
collection walks all of them (seen: up to 150 ms, a pause every few seconds, in the middle of a step), although
they form no cycles. So after each step the step's own garbage is collected (the objects made since the last
step: few) and what survives is frozen out of the collector (`gc.freeze`). Objects freed by reference count are
freed as ever; a cycle among frozen objects that became garbage later would be kept, so every
FULL_COLLECT_SECONDS everything is unfrozen and collected once (one full pause there).
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pydantic
import redis
from django.conf import settings
from django.db import close_old_connections

from config.ttl_cache import TtlCache
from realtime.events import VitalEvent
from realtime.ingest import events_relay
from realtime.locks import PatientKey, PatientLocks
from realtime.models import DeviceSource
from realtime.rescore import Draft, events_new, events_rescored, rescore_draft, rescores_store
from realtime.state import Applied, state_apply, state_build, state_drop, state_name
from realtime.state_copies import StateCopies
from realtime.stream import DEAD_LETTER, GROUP, STREAM, stream_add, stream_client
from scoring.readiness import registry_status

logger = logging.getLogger(__name__)
HOUSEKEEPING_SECONDS = 5.0
LOCK_SECONDS = 120  # a consumer that dies holding a patient's lock frees it after this
LOCK_WAIT_SECONDS = 10  # how long a step waits for a patient another consumer is rescoring
LOCK_GROUP = 25  # patients whose locks are taken in one round trip (`realtime.locks`)
STORE_SECONDS = 1.0  # rescores are stored (and their locks released) at least this often within a step
FULL_COLLECT_SECONDS = 600.0  # how often everything frozen out of the garbage collector is collected once
_DEVICE_SOURCES: TtlCache[str, frozenset[str]] = TtlCache(30.0)

RawEntry = tuple[bytes, dict[bytes, bytes]]


@dataclass
class Batch:
    """One step's entries, parsed: events per (registration, patient), refreshes, unreadable entry ids."""

    events: dict[PatientKey, list[tuple[str, VitalEvent]]] = field(default_factory=dict)
    refreshes: list[tuple[str, int, str]] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


def batch_parse(entries: list[RawEntry]) -> Batch:
    """Group stream entries by what they ask for (an unreadable one is kept apart, to be dead-lettered)."""
    batch = Batch()
    for raw_id, fields in entries:
        entry_id = raw_id.decode()
        try:
            if b"event" in fields:
                event = VitalEvent.model_validate_json(fields[b"event"])
                batch.events.setdefault((event.registration_id, event.patient), []).append((entry_id, event))
            else:
                refresh = orjson.loads(fields[b"refresh"])
                batch.refreshes.append((entry_id, int(refresh["registration_id"]), str(refresh["patient"])))
        except (KeyError, TypeError, ValueError, orjson.JSONDecodeError, pydantic.ValidationError):
            batch.unreadable.append(entry_id)
    return batch


def device_sources() -> frozenset[str]:
    """Names of registered device sources (their events are never read as the EHR's own Observations)."""
    return _DEVICE_SOURCES.get("all", lambda: frozenset(DeviceSource.objects.values_list("name", flat=True)))


class Consumer:
    """A member of the consumer group; `run()` until told to stop, or `step()` once."""

    def __init__(self, name: str | None = None, client: redis.Redis | None = None) -> None:
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.client = client or stream_client()
        self._own_checked = False
        self._housekept = 0.0
        self.copies = StateCopies(settings.REALTIME_STATE_COPIES)

    def group_ensure(self) -> None:
        """Create the stream and its group if missing (from the stream's start: nothing sent before is skipped)."""
        try:
            self.client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def run(self, stop: Callable[[], bool]) -> None:
        """Steps until `stop()`; housekeeping between them. Models are loaded first (as gunicorn's `post_fork`
        does), so the first rescore does not pay for it. Before each step, the garbage collector collects what is
        not frozen, then freezes the rest (see the module's text)."""
        self.group_ensure()
        registry_status()
        collected = 0.0
        while not stop():
            if time.monotonic() - collected > FULL_COLLECT_SECONDS:
                gc.unfreeze()
                collected = time.monotonic()
            gc.collect()  # only what is not frozen: the last step's objects, and all of them after an unfreeze
            gc.freeze()
            self.step()
            self.housekeep()

    def step(self, *, block_ms: int | None = None) -> int:
        """Take one set of entries and process it, then trim what is acknowledged; how many entries were taken."""
        close_old_connections()
        entries = self._own_pending() or self._claimed() or self._new(block_ms)
        if entries:
            self.process(entries)
            stream_trim(self.client)
        return len(entries)

    def _own_pending(self) -> list[RawEntry]:
        """Entries delivered to this name before (an earlier run of it stopped before acknowledging them)."""
        if self._own_checked:
            return []
        self._own_checked = True  # once: what fails again is retried by XAUTOCLAIM, not in a tight loop
        return self._read("0", block_ms=None)

    def _claimed(self) -> list[RawEntry]:
        """Entries idle on other consumers past REALTIME_CLAIM_IDLE_MS, taken over (too often tried: dead-lettered)."""
        idle = settings.REALTIME_CLAIM_IDLE_MS
        pending: list[dict[str, Any]] = self.client.xpending_range(  # type: ignore[assignment]
            STREAM, GROUP, min="-", max="+", count=settings.REALTIME_READ_COUNT, idle=idle
        )
        poisoned = [p["message_id"] for p in pending if p["times_delivered"] >= settings.REALTIME_MAX_DELIVERIES]
        if poisoned:
            self._dead_letter([i.decode() for i in poisoned], reason="too many deliveries")
        if len(poisoned) == len(pending):
            return []
        claimed: list[Any] = self.client.xautoclaim(  # type: ignore[assignment]
            STREAM, GROUP, self.name, idle, start_id="0-0", count=settings.REALTIME_READ_COUNT
        )
        return [e for e in claimed[1] if e[1]]  # deleted entries come back empty

    def _new(self, block_ms: int | None) -> list[RawEntry]:
        """New entries, waiting up to `block_ms` (REALTIME_BLOCK_MS by default; 0: do not wait)."""
        return self._read(">", block_ms=settings.REALTIME_BLOCK_MS if block_ms is None else (block_ms or None))

    def _read(self, start: str, *, block_ms: int | None) -> list[RawEntry]:
        found: list[Any] | None = self.client.xreadgroup(  # type: ignore[assignment]
            GROUP, self.name, {STREAM: start}, count=settings.REALTIME_READ_COUNT, block=block_ms
        )
        return [e for _, entries in found or () for e in entries if e[1]]

    def process(self, entries: list[RawEntry]) -> None:
        """Refreshes, then every patient's events; acknowledge what committed."""
        batch = batch_parse(entries)
        if batch.unreadable:
            self._dead_letter(batch.unreadable, reason="unreadable entry")
        for entry_id, registration_id, patient in batch.refreshes:
            state_drop(self.client, registration_id, patient)
            self.client.xack(STREAM, GROUP, entry_id)
        done = self._patients({key: [e for _, e in items] for key, items in batch.events.items()})
        acked = [i for key in done for i, _ in batch.events[key]]
        if acked:
            self.client.xack(STREAM, GROUP, *acked)

    def _patients(self, events: dict[PatientKey, list[VitalEvent]]) -> list[PatientKey]:
        """Each patient's events folded into their state and scored under the patient's lock, the rescores stored
        together (`rescores_store`) about every STORE_SECONDS of work (once per step, unless states had to be built
        from the EHR), then those patients' locks released. The patients whose events are done; the others' stay
        pending (retried by XAUTOCLAIM, dead-lettered after REALTIME_MAX_DELIVERIES).

        The locks are taken in one order (by patient, a group per round trip: `realtime.locks`), so two consumers
        never wait on each other's; one not free within LOCK_WAIT_SECONDS leaves that patient's events pending. A
        rescore is stored only while its lock is still held (renewed for the store, all in one round trip): a lock
        that expired meanwhile may be another consumer's now, so that patient's events stay pending instead.

        Which of the step's events a committed rescore took in already is read once, before the locks (one query,
        where one per patient cost a tenth of the consumer's time). A rescore of the same events that another
        consumer commits in between (a claimed or twice-streamed entry) makes this one's store fail on
        `RescoredEvent`'s uniqueness: that patient's events stay pending and are found taken in when redelivered."""
        keys, done = sorted(events, reverse=True), []
        try:
            rescored = events_rescored(e for patient in events.values() for e in patient)
        except Exception:
            logger.exception("real-time: the events already rescored could not be read; the step's events stay pending")
            return []
        while keys:
            done += self._chunk(keys, events, rescored)
        return done

    def _chunk(
        self, keys: list[PatientKey], events: dict[PatientKey, list[VitalEvent]], rescored: set[tuple[str, str]]
    ) -> list[PatientKey]:
        """Patients taken off the end of `keys`, LOCK_GROUP at a time, until STORE_SECONDS have passed: locked
        (`realtime.locks`), scored, stored together. Those not reached by then go back on `keys`."""
        deadline, drafts = time.monotonic() + STORE_SECONDS, dict[PatientKey, Draft | None]()
        with PatientLocks(self.client, timeout=LOCK_SECONDS, wait=LOCK_WAIT_SECONDS) as locks:
            while keys:  # at least one group
                taken, untried = locks.take([keys.pop() for _ in range(min(LOCK_GROUP, len(keys)))], deadline)
                done, later = self._drafts(taken, events, rescored, deadline)
                drafts.update(done)
                keys.extend(sorted(untried + later, reverse=True))
                if time.monotonic() >= deadline:
                    break
            still = locks.renew()
            held = {key: d for key, d in drafts.items() if d is None or key in still}
            stored = {(d.registration_id, d.patient) for d in rescores_store([d for d in held.values() if d])}
            for key in [k for k, d in drafts.items() if d is not None and k not in stored]:
                self.copies.forget(*key)
        return [key for key, d in held.items() if d is None or key in stored]

    def _drafts(
        self,
        keys: list[PatientKey],
        events: dict[PatientKey, list[VitalEvent]],
        rescored: set[tuple[str, str]],
        deadline: float,
    ) -> tuple[dict[PatientKey, Draft | None], list[PatientKey]]:
        """The locked patients' events folded into their states (`_fold`), then each patient scored (`_draft`)
        until `deadline` (at least one): the drafts, and the patients left for later. A patient whose events
        could not be processed is in neither (their events stay pending)."""
        applied = self._fold(keys, events)
        drafts: dict[PatientKey, Draft | None] = {}
        for i, key in enumerate(keys):
            if i and time.monotonic() >= deadline:
                return drafts, [k for k in keys[i:] if k in applied]
            if key not in applied:
                continue
            try:
                drafts[key] = self._draft(key, events[key], rescored, applied[key])
            except Exception:
                logger.exception("real-time: events of one patient not processed; they stay pending")
                self.copies.forget(*key)
        return drafts, []

    def _fold(
        self, keys: list[PatientKey], events: dict[PatientKey, list[VitalEvent]]
    ) -> dict[PatientKey, Applied | None]:
        """Fold the patients' events into their states in one transaction; when that fails, each patient's alone
        (so one patient's bad state holds nobody else back). What `state_apply` did per patient folded."""
        try:
            return self._apply(keys, events)
        except Exception:
            logger.warning(
                "real-time: %d patients' events not folded in together; one by one", len(keys), exc_info=True
            )
        folded: dict[PatientKey, Applied | None] = {}
        for key in keys:
            try:
                folded.update(self._apply([key], events))
            except Exception:
                logger.exception("real-time: events of one patient not folded in; they stay pending")
                self.copies.forget(*key)
        return folded

    def _apply(
        self, keys: list[PatientKey], events: dict[PatientKey, list[VitalEvent]]
    ) -> dict[PatientKey, Applied | None]:
        applied = state_apply(self.client, [e for key in keys for e in events[key]], device_sources=device_sources())
        return {key: applied.get(state_name(*key)) for key in keys}

    def _draft(
        self, key: PatientKey, events: list[VitalEvent], rescored: set[tuple[str, str]], applied: Applied | None
    ) -> Draft | None:
        """Score the patient's state after `applied` (their events folded in; built first when it is not), under
        the lock, for those of the events no committed rescore took in (not in `rescored`)."""
        registration_id, patient = key
        state = self.copies.read(self.client, registration_id, patient, applied)
        if state is None:
            state_build(self.client, registration_id, patient)
            state = self.copies.read(self.client, registration_id, patient, None)
        assert state is not None  # just built under the lock
        return rescore_draft(
            registration_id=registration_id,
            patient=patient,
            events=events_new(events, rescored),
            resources=state.parsed,
            as_of=state.as_of,
        )

    def _dead_letter(self, ids: list[str], *, reason: str) -> None:
        for entry_id in ids:
            found: list[RawEntry] = self.client.xrange(STREAM, entry_id, entry_id)  # type: ignore[assignment]
            for _, fields in found:
                letter: dict[Any, Any] = {**fields, b"reason": reason.encode(), b"entry": entry_id.encode()}
                stream_add(self.client, DEAD_LETTER, letter)
            self.client.xack(STREAM, GROUP, entry_id)
        logger.error("real-time: %d stream entries dead-lettered (%s) to %s", len(ids), reason, DEAD_LETTER)

    def housekeep(self, *, force: bool = False) -> None:
        """Every HOUSEKEEPING_SECONDS: relay unstreamed device events, trim acknowledged entries off the stream, check
        what is left."""
        if not force and time.monotonic() - self._housekept < HOUSEKEEPING_SECONDS:
            return
        self._housekept = time.monotonic()
        relayed = events_relay()
        if relayed:
            logger.warning("real-time: relayed %d stored device events that were not streamed", relayed)
        stream_trim(self.client)
        backlog_check(self.client)


def backlog_check(client: redis.Redis) -> int:
    """The stream's length once trimmed (entries not yet acknowledged by every consumer), logged as an error past
    half of REALTIME_STREAM_MAXLEN: appends drop the oldest entries, read or not, once it reaches the cap."""
    length = int(client.xlen(STREAM))  # type: ignore[arg-type]
    if length > settings.REALTIME_STREAM_MAXLEN // 2:
        logger.error(
            "real-time: %d stream entries not yet acknowledged, over half of REALTIME_STREAM_MAXLEN (%d): past it "
            "the oldest are dropped unread; add consumers",
            length,
            settings.REALTIME_STREAM_MAXLEN,
        )
    return length


def stream_trim(client: redis.Redis) -> int:
    """Drop the entries before the oldest one still unacknowledged or undelivered; how many were dropped."""
    groups: list[dict[str, Any]] = client.xinfo_groups(STREAM)  # type: ignore[assignment]
    mine = next((g for g in groups if g["name"].decode() == GROUP), None)
    if mine is None:
        return 0
    floor = mine["last-delivered-id"].decode()
    summary = client.xpending(STREAM, GROUP)
    if summary["pending"]:
        floor = min(floor, summary["min"].decode(), key=_entry_order)
    return int(client.xtrim(STREAM, minid=floor, approximate=False))  # exact: the few entries of a step or two


def _entry_order(entry_id: str) -> tuple[int, int]:
    millis, _, seq = entry_id.partition("-")
    return int(millis), int(seq or 0)
