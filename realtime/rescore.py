"""Rescore a patient from their online state, once per event, and tell the score listeners (alerts).

Each vitals model whose inputs the new events touch (`realtime.models_read`) scores the state's resources
through `scoring.services.score_with_shadows`, the same service every door uses (its declared share of the
resources, TreeSHAP drivers, refusals), as of the moment the state describes (`realtime.state.data_as_of`: its
newest Observation's time, never later than now), so the score's as-of and its data age are the truth of the
data it read, however late they were sent (a replayed stay is scored hour by hour as each hour).

A rescore is scored first (`rescore_draft`: nothing stored) and stored after (`rescores_store`), so a consumer
stores the rescores of the patients of a stream step together: one commit, one audit chain lock and one insert
per table, where each patient cost all of these. When that transaction fails, each patient's rescore is stored in
its own, so one patient's failure holds nobody else back. The rescore, the events
it took in (`RescoredEvent`, unique per (source, source event id)), its audit records (one "score" record per
inference, as the other doors write) and whatever the listeners write commit together: an event already taken in
by a committed rescore is never scored again (a redelivered stream entry changes nothing), and a rescore that
fails leaves nothing behind.

Listeners are the dotted paths of REALTIME_SCORE_LISTENERS, called once per store with one argument: a list
of `scoring.types.PatientScores`, one per rescored patient and model (registration, bare FHIR patient id, the
patient's current location, "" if unknown, and the results, the served result first, then shadows), of the
rescores that are current (`current`). They are called inside the store's transaction: what they write commits
with the scores or not at all, and their side effects belong in `transaction.on_commit`. A listener may be
called again for the same rescore (when the rescores stored together failed and each is stored alone): only
what commits counts. One call per store, not per patient, lets a listener read what it needs for all of them at
once (the alerts' listener reads the latest alerts in one query, where one per patient and model was about
40 % of a rescore).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from audit.services import audit_records_create
from config.errors import ApplicationError
from fhirapp.patient import patient_unit
from realtime.events import VitalEvent
from realtime.models import Rescore, RescoredEvent
from realtime.models_read import models_reading
from scoring.features.select import ParsedResources
from scoring.monitoring.record import served_records
from scoring.services import score_audit_entry, score_with_shadows
from scoring.types import PatientScores, ScoreResult

logger = logging.getLogger(__name__)
Listener = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class Draft:
    """A patient's rescore, scored and not yet stored: the events it takes in and each touched model's results."""

    registration_id: int
    patient: str
    as_of: datetime
    unit: str
    scoring_ms: float
    events: list[VitalEvent]
    scored: list[list[ScoreResult]]

    @property
    def patient_id(self) -> str:
        return self.patient.removeprefix("Patient/")


def rescore_draft(
    *,
    registration_id: int,
    patient: str,
    events: Sequence[VitalEvent],
    resources: ParsedResources,
    as_of: datetime,
) -> Draft | None:
    """Score `patient` as of `as_of` for `events` (those no rescore took in yet: `events_rescored` says which
    did), storing nothing; None when there are none."""
    if not events:
        return None
    started = time.perf_counter()
    scored = _score(resources, as_of, patient.removeprefix("Patient/"), {e.code for e in events})
    unit = patient_unit(resources.other_kinds())
    scoring_ms = (time.perf_counter() - started) * 1000
    return Draft(registration_id, patient, as_of, unit, scoring_ms, list(events), scored)


def rescores_store(drafts: Sequence[Draft]) -> list[Draft]:
    """Store the drafts (several patients' rescores) in one transaction; when it fails, each in its own, so one
    patient's failure does not hold the others back. Which drafts were stored (a failure is logged)."""
    if len(drafts) > 1:
        try:
            with transaction.atomic():
                _store(drafts)
            return list(drafts)
        except Exception:
            logger.warning("real-time: %d rescores failed together; storing each alone", len(drafts), exc_info=True)
    return [d for d in drafts if _store_alone(d)]


def _store_alone(draft: Draft) -> bool:
    try:
        with transaction.atomic():
            _store([draft])
    except Exception:
        logger.exception("real-time: the rescore of one patient could not be stored; their events stay pending")
        return False
    return True


def _store(drafts: Sequence[Draft]) -> None:
    """The drafts' rescores, the events they took in, their audit and monitoring records and the listeners'
    writes (inside the caller's transaction)."""
    rescores = Rescore.objects.bulk_create([_rescore_row(d) for d in drafts])
    # First, before any listener: an event another consumer's rescore took in meanwhile fails here, on its uniqueness
    # (the consumer reads which events were taken in before it takes the patients' locks: `realtime.consumer`).
    RescoredEvent.objects.bulk_create(
        [
            RescoredEvent(rescore=rescore, source=e.source, source_event_id=e.source_event_id)
            for d, rescore in zip(drafts, rescores, strict=True)
            for e in d.events
        ]
    )
    audit_records_create(
        [
            {**score_audit_entry(r, d.patient_id), "detail": {"realtime_rescore": rescore.pk}}
            for d, rescore in zip(drafts, rescores, strict=True)
            for results in d.scored
            for r in results
        ]
    )
    served_records([([r for results in d.scored for r in results], d.patient_id) for d in drafts])
    scores = [  # data of a past moment are scored and recorded, never alerted on
        PatientScores(d.registration_id, d.patient_id, d.unit, results)
        for d in drafts
        if current(d.as_of)
        for results in d.scored
    ]
    if scores:
        for listener in score_listeners():
            listener(scores)


def _rescore_row(draft: Draft) -> Rescore:
    return Rescore(
        registration_id=draft.registration_id,
        patient=draft.patient,
        unit=draft.unit,
        as_of=draft.as_of,
        scoring_ms=draft.scoring_ms,
        results=[_summary(results[0]) for results in draft.scored],
        events=len(draft.events),
    )


def current(as_of: datetime) -> bool:
    """Whether a rescore's moment is recent enough to tell the listeners (REALTIME_ALERT_MAX_LAG_MINUTES)."""
    return timezone.now() - as_of <= timedelta(minutes=settings.REALTIME_ALERT_MAX_LAG_MINUTES)


def events_rescored(events: Iterable[VitalEvent]) -> set[tuple[str, str]]:
    """The (source, source event id) of those of `events` a committed rescore took in (one query, for any
    number of patients' events)."""
    keys = {(e.source, e.source_event_id) for e in events}
    if not keys:
        return set()
    sources, ids = {s for s, _ in keys}, {i for _, i in keys}  # two IN lists: one cheap query on the index
    found = RescoredEvent.objects.filter(source__in=sources, source_event_id__in=ids)
    return set(found.values_list("source", "source_event_id")) & keys


def events_new(events: Iterable[VitalEvent], rescored: set[tuple[str, str]]) -> list[VitalEvent]:
    """The first of each identity among `events` that is not in `rescored`."""
    unique = {(e.source, e.source_event_id): e for e in events}
    return [e for k, e in unique.items() if k not in rescored]


def _score(resources: ParsedResources, as_of: datetime, pid: str, codes: set[str]) -> list[list[ScoreResult]]:
    """Each touched vitals model's results (served first); a model that is not registered or ready is skipped."""
    out = []
    for model in models_reading(codes):
        try:
            out.append(
                score_with_shadows(model_name=model.name, resources=resources, as_of=as_of, patient_id=pid, audit=False)
            )
        except ApplicationError as exc:
            logger.warning("real-time rescore: %s not scored: %s", model.name, exc.message)
    return out


def _summary(result: ScoreResult) -> dict[str, Any]:
    return {
        "model": result.model_name,
        "version": result.model_version,
        "status": result.model_status,
        "scored": result.scored,
        "band": result.band,
        "probability": result.probability,
        "points": result.points,
        "input_digest": result.input_digest,
    }


def score_listeners() -> list[Listener]:
    """The callables named by REALTIME_SCORE_LISTENERS (empty names ignored)."""
    return [import_string(path) for path in settings.REALTIME_SCORE_LISTENERS if path]
