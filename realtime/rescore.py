"""Rescore a patient from their online state, once per event, and tell the score listeners (alerts).

Each vitals model whose inputs the new events touch (`realtime.models_read`) scores the state's resources
through `scoring.services.score_with_shadows`, the same service every door uses (its declared share of the
resources, TreeSHAP drivers, refusals), as of the moment the state describes (`realtime.state.data_as_of`: its
newest Observation's time, never later than now), so the score's as-of and its data age are the truth of the
data it read, however late they were sent (a replayed stay is scored hour by hour as each hour). The rescore, the
events it took in (`RescoredEvent`, unique per (source, source event id)), its audit records (one "score" record
per inference, as the other doors write) and whatever the listeners write commit together: an event already
taken in by a committed rescore is never scored again (a redelivered stream entry changes nothing), and a rescore
that fails leaves nothing behind.

Listeners are the dotted paths of REALTIME_SCORE_LISTENERS, called once per model with keyword arguments
`registration_id`, `patient_id` (the bare FHIR id), `unit` (the patient's current location, "" if unknown)
and `results` (the served result first, then shadows), inside the rescore's transaction: what they write
commits with the score or not at all, and their side effects belong in `transaction.on_commit`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
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
from scoring.monitoring.record import served_record
from scoring.services import score_audit_entry, score_with_shadows
from scoring.types import ScoreResult

logger = logging.getLogger(__name__)
Listener = Callable[..., Any]


def patient_rescore(
    *,
    registration_id: int,
    patient: str,
    events: Sequence[VitalEvent],
    resources: ParsedResources,
    as_of: datetime,
) -> Rescore | None:
    """Rescore `patient` as of `as_of` (the moment the state describes) for the events not yet taken in by a
    rescore; None when there are none."""
    new = _not_rescored(events)
    if not new:
        return None
    started = time.perf_counter()
    pid = patient.removeprefix("Patient/")
    scored = _score(resources, as_of, pid, {e.code for e in new})
    unit = patient_unit(resources.resources)
    scoring_ms = (time.perf_counter() - started) * 1000
    with transaction.atomic():
        rescore = Rescore.objects.create(
            registration_id=registration_id,
            patient=patient,
            unit=unit,
            as_of=as_of,
            scoring_ms=scoring_ms,
            results=[_summary(results[0]) for results in scored],
            events=len(new),
        )
        RescoredEvent.objects.bulk_create(
            [RescoredEvent(rescore=rescore, source=e.source, source_event_id=e.source_event_id) for e in new]
        )
        inferences = [r for results in scored for r in results]
        detail = {"realtime_rescore": rescore.pk}
        audit_records_create([{**score_audit_entry(r, pid), "detail": detail} for r in inferences])
        served_record(inferences, pid)
        if current(as_of):  # data of a past moment are scored and recorded, never alerted on
            for results in scored:
                _notify(registration_id=registration_id, patient_id=pid, unit=unit, results=results)
    return rescore


def current(as_of: datetime) -> bool:
    """Whether a rescore's moment is recent enough to tell the listeners (REALTIME_ALERT_MAX_LAG_MINUTES)."""
    return timezone.now() - as_of <= timedelta(minutes=settings.REALTIME_ALERT_MAX_LAG_MINUTES)


def _not_rescored(events: Sequence[VitalEvent]) -> list[VitalEvent]:
    """The events (first of each identity) no committed rescore has taken in."""
    unique = {(e.source, e.source_event_id): e for e in events}
    if not unique:
        return []
    sources, ids = {s for s, _ in unique}, {i for _, i in unique}  # two IN lists: one cheap query on the index
    done = set(
        RescoredEvent.objects.filter(source__in=sources, source_event_id__in=ids).values_list(
            "source", "source_event_id"
        )
    )
    return [e for k, e in unique.items() if k not in done]


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


def _notify(**kwargs: Any) -> None:
    for listener in score_listeners():
        listener(**kwargs)
