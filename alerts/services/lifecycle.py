"""The alert lifecycle: a served score crossing into a band that alerts becomes one alert, deduplicated and
suppressed per policy, then delivered, acknowledged, snoozed, escalated, expired or resolved (each audited).

Deduplication: one open alert per (EHR registration, patient, model), held by a partial unique constraint and
an advisory lock; a new one only when the band rises (the open one is resolved as superseded). Suppression:
after an alert, none in the same or a lower band until the policy's re-alert interval has passed. A result older
than the latest alert (a late one) changes nothing; one as of the same moment is that moment scored with more of
its data (a late event of that moment: the real-time door scores as of its newest data) and is decided as usual.
Bands and indicators are the result's own (the model version's threshold policy); the alert policy only says from
which band on it alerts.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from alerts.models import BAND_RANK, Alert, AlertPolicy, MonitoredPatientDay
from alerts.services.flag import flag_schedule
from alerts.services.notify import notifications_schedule
from alerts.services.policy import alert_policy_get
from audit.services import audit_record_create
from config.errors import Conflict, NotFound, ValidationFailed
from config.keys import decrypt_text, encrypt_text, pseudonymize
from config.ttl_cache import TtlCache
from scoring.presentation import clinical_drivers, value_text
from scoring.types import PatientScores, ScoreResult

SYSTEM_ACTOR = "stratify:alerts"
TOP_CLINICAL, TOP_CONTEXT = 5, 2
KEY_FIELDS = ("registration_id", "patient_pseudonym", "model_name")  # one open alert per these (`Alert`)
AlertKey = tuple[int, str, str]
_DAYS_SEEN: TtlCache[tuple[int, str, str, str, str], bool] = TtlCache(3600.0, max_entries=100_000)


def alerts_on_score(*, registration_id: int, patient_id: str, unit: str, results: Sequence[ScoreResult]) -> None:
    """Raise, keep or resolve the alert of `results[0]` (the served result; the others are shadows and never
    alert). An unscored result never alerts and never resolves one."""
    alerts_on_scores([PatientScores(registration_id, patient_id, unit, results)])


def alerts_on_scores(scores: Sequence[PatientScores]) -> None:
    """`alerts_on_score` for several patients' and models' results at once: the latest alert of each (registration,
    patient, model) is read in one query, and the common cases (nothing to do) are decided from it without a lock;
    anything else is decided again under the lock. The score listener of the real-time door, called once per store
    of a step's rescores; any door that scores patients on a unit may call it."""
    served = [(s, pseudonymize(s.patient_id)) for s in scores if _may_alert(s.results)]
    latest = _latest_alerts([(s.registration_id, pseudonym, s.results[0].model_name) for s, pseudonym in served])
    decided: set[AlertKey] = set()
    for s, pseudonym in served:
        key = (s.registration_id, pseudonym, s.results[0].model_name)
        last = latest.get(key) if key not in decided else _latest_alerts([key]).get(key)
        if _served_decide(s, pseudonym, last):
            decided.add(key)


def _may_alert(results: Sequence[ScoreResult]) -> bool:
    """A served result that was scored and banded (shadows never alert; a refusal never alerts nor resolves)."""
    served = results[0] if results else None
    return served is not None and served.model_status != "shadow" and served.scored and served.band is not None


def _latest_alerts(keys: Sequence[AlertKey]) -> dict[AlertKey, Alert]:
    """The latest alert of each (registration, pseudonym, model) of `keys` that has one (one query)."""
    if len(keys) <= 1:  # the plain indexed query: the window's compile costs twice as much
        found = [a for key in keys for a in _alerts_of(key).order_by("-created_at", "-id")[:1]]
        return {_key_of(a): a for a in found}
    registrations, pseudonyms, models = (sorted({k[i] for k in keys}) for i in range(3))
    order = [F("created_at").desc(), F("id").desc()]
    ranked = Alert.objects.filter(
        registration_id__in=registrations, patient_pseudonym__in=pseudonyms, model_name__in=models
    ).annotate(rank=Window(RowNumber(), partition_by=[F(f) for f in KEY_FIELDS], order_by=order))
    wanted = set(keys)
    return {key: a for a in ranked.filter(rank=1) if (key := _key_of(a)) in wanted}


def _alerts_of(key: AlertKey) -> QuerySet[Alert]:
    return Alert.objects.filter(**dict(zip(KEY_FIELDS, key, strict=True)))


def _key_of(alert: Alert) -> AlertKey:
    return (alert.registration_id, alert.patient_pseudonym, alert.model_name)


def _served_decide(scores: PatientScores, pseudonym: str, last: Alert | None) -> bool:
    """Decide on the served result given the latest alert read (`last`); whether it was decided under the lock
    (an alert may have changed)."""
    served, registration_id = scores.results[0], scores.registration_id
    patient_day_record(
        registration_id=registration_id, pseudonym=pseudonym, model_name=served.model_name, unit=scores.unit
    )
    policy = alert_policy_get(served.model_name, scores.unit)
    if not policy.enabled or _nothing_to_do(served, policy, last):
        return False  # the common cases, decided without a lock; anything else is decided again under it
    with transaction.atomic():
        _lock(registration_id, pseudonym, served.model_name)
        _decide(
            served,
            policy,
            registration_id=registration_id,
            patient_id=scores.patient_id,
            pseudonym=pseudonym,
            unit=scores.unit,
        )
    return True


def _decide(
    served: ScoreResult, policy: AlertPolicy, *, registration_id: int, patient_id: str, pseudonym: str, unit: str
) -> None:
    key = (registration_id, pseudonym, served.model_name)
    last = _latest_alerts([key]).get(key)
    if _nothing_to_do(served, policy, last):
        return
    # Only the latest alert can be open: a new one is raised only when none is, or after closing the open one.
    current = _open(last)
    band = str(served.band)
    if _quiet(served, policy):
        assert current is not None  # else nothing to do
        close(current, Alert.Status.RESOLVED, actor=SYSTEM_ACTOR, reason=f"score fell to the {band} band")
        return
    if current is not None:
        close(current, Alert.Status.RESOLVED, actor=SYSTEM_ACTOR, reason=f"superseded: band rose to {band}")
    alert = _create(served, registration_id=registration_id, patient_id=patient_id, unit=unit, supersedes=current)
    notifications_schedule(alert.pk, purpose="new")
    flag_schedule(alert.pk)


def _nothing_to_do(served: ScoreResult, policy: AlertPolicy, last: Alert | None) -> bool:
    """Whether the result changes nothing, given the latest alert: older than it (a late result); below the
    alerting band with nothing open, or with the policy not resolving on a fall; or suppressed (`_suppressed`).
    Else it resolves the open alert (a fall) or raises one (superseding the open one, if any)."""
    if last is not None and served.as_of < last.as_of:
        return True
    current = _open(last)
    if _quiet(served, policy):
        return current is None or not policy.resolve_when_band_falls
    return _suppressed(policy, current=current, last=last, band=str(served.band), now=timezone.now())


def _open(last: Alert | None) -> Alert | None:
    return last if last is not None and last.is_open else None


def _quiet(served: ScoreResult, policy: AlertPolicy) -> bool:
    """The result is below the band from which the policy alerts."""
    return BAND_RANK[str(served.band)] < BAND_RANK[policy.min_band]


def _suppressed(policy: AlertPolicy, *, current: Alert | None, last: Alert | None, band: str, now: datetime) -> bool:
    """An open alert in this band or higher, or a recent alert in it within the re-alert interval."""
    if current is not None:
        return BAND_RANK[band] <= BAND_RANK[current.band]
    if last is None or BAND_RANK[band] > BAND_RANK[last.band]:
        return False
    return now - last.created_at < timedelta(minutes=policy.realert_minutes)


def _lock(registration_id: int, pseudonym: str, model_name: str) -> None:
    """Serialise decisions for one patient and model until the transaction ends (PostgreSQL advisory lock)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                [f"alert\n{registration_id}\n{pseudonym}\n{model_name}"],
            )


def drivers_of(result: ScoreResult) -> list[dict[str, Any]]:
    """The alert's drivers in the words every surface uses: clinical ones first, then a few context inputs."""
    clinical = clinical_drivers(result)[:TOP_CLINICAL]
    context = [d for d in result.drivers if d.context][:TOP_CONTEXT]
    return [
        {"label": d.label, "text": d.text, "direction": d.direction, "context": d.context}
        for d in [*clinical, *context]
    ]


def _create(
    served: ScoreResult, *, registration_id: int, patient_id: str, unit: str, supersedes: Alert | None
) -> Alert:
    now = timezone.now()
    alert = Alert.objects.create(
        registration_id=registration_id,
        patient_pseudonym=pseudonymize(patient_id),
        patient_ref_encrypted=encrypt_text(patient_id),
        unit=unit[:200],
        model_name=served.model_name,
        model_version=served.model_version,
        title=served.title[:200],
        band=str(served.band),
        indicator=served.indicator,
        score_text=value_text(served),
        probability=served.probability,
        points=served.points,
        summary=served.summary[:300],
        drivers=drivers_of(served),
        as_of=served.as_of,
        data_time=max(served.data_times.values(), default=None),
        input_digest=served.input_digest,
        supersedes=supersedes,
        waiting_since=now,
    )
    audit(alert, transition="created", actor=SYSTEM_ACTOR, reason=served.summary)
    return alert


def patient_day_record(*, registration_id: int, pseudonym: str, model_name: str, unit: str) -> None:
    """Count the patient as monitored by the model on the unit today (one insert per process, patient and day)."""
    day = timezone.localdate()
    fresh = False

    def first_seen() -> bool:
        nonlocal fresh
        fresh = True
        return True

    _DAYS_SEEN.get((registration_id, pseudonym, model_name, unit, day.isoformat()), first_seen)
    if fresh:
        MonitoredPatientDay.objects.bulk_create(
            [
                MonitoredPatientDay(
                    registration_id=registration_id,
                    patient_pseudonym=pseudonym,
                    model_name=model_name,
                    unit=unit,
                    day=day,
                )
            ],
            ignore_conflicts=True,
        )


def patient_days_forget() -> None:
    """Forget which patient-days this process has counted (tests; a rolled-back transaction that counted one)."""
    _DAYS_SEEN.clear()


# --- transitions -------------------------------------------------------------------------------------


def alert_move(alert: Alert, to: str, from_states: Sequence[str], **fields: Any) -> bool:
    """Move `alert` to `to` only if it is still in one of `from_states` (a concurrent change wins cleanly)."""
    moved = Alert.objects.filter(pk=alert.pk, status__in=from_states).update(status=to, **fields)
    if moved:
        alert.refresh_from_db()
    return bool(moved)


def close(alert: Alert, status: str, *, actor: str, reason: str) -> bool:
    closed = alert_move(alert, status, Alert.OPEN, closed_at=timezone.now(), closed_by=actor[:150], close_reason=reason)
    if closed:
        audit(alert, transition=status, actor=actor, reason=reason)
        notifications_schedule(alert.pk, purpose="closed")
        flag_schedule(alert.pk)
    return closed


def alert_get(alert_id: int) -> Alert:
    """The alert, or NotFound (404)."""
    alert = Alert.objects.filter(pk=alert_id).first()
    if alert is None:
        raise NotFound("No such alert.")
    return alert


def alert_delivered(alert_id: int) -> bool:
    """A channel took the alert: created -> delivered (once)."""
    alert = alert_get(alert_id)
    moved = alert_move(alert, Alert.Status.DELIVERED, [Alert.Status.CREATED], delivered_at=timezone.now())
    if moved:
        audit(alert, transition="delivered", actor=SYSTEM_ACTOR)
    return moved


def alert_acknowledge(*, alert_id: int, actor: str) -> Alert:
    """A clinician has seen the alert and takes it on (from waiting or snoozed); audited."""
    alert = alert_get(alert_id)
    now = timezone.now()
    if not alert_move(
        alert,
        Alert.Status.ACKNOWLEDGED,
        [*Alert.AWAITING_ACK, Alert.Status.SNOOZED],
        acknowledged_at=now,
        acknowledged_by=actor[:150],
        snoozed_until=None,
    ):
        raise Conflict(f"This alert is {alert.status}; it cannot be acknowledged now.")
    audit(alert, transition="acknowledged", actor=actor)
    return alert


def alert_resolve(*, alert_id: int, actor: str, reason: str = "") -> Alert:
    """A clinician closes the alert (dealt with, or not needed); audited."""
    alert = alert_get(alert_id)
    if not close(alert, Alert.Status.RESOLVED, actor=actor, reason=reason.strip() or "resolved by a clinician"):
        raise Conflict(f"This alert is {alert.status}; it cannot be resolved.")
    return alert


def alert_snooze(*, alert_id: int, actor: str, reason: str, minutes: int) -> Alert:
    """Hold an unacknowledged alert for `minutes` (at most the policy's) with a reason; it comes back after."""
    alert = alert_get(alert_id)
    if not reason.strip():
        raise ValidationFailed("A reason is required to snooze an alert.", extra={"fields": {"reason": "required"}})
    longest = alert_policy_get(alert.model_name, alert.unit).max_snooze_minutes
    if not 1 <= minutes <= longest:
        raise ValidationFailed(f"Snooze for 1 to {longest} minutes.", extra={"fields": {"minutes": "out of range"}})
    until = timezone.now() + timedelta(minutes=minutes)
    if not alert_move(
        alert, Alert.Status.SNOOZED, Alert.AWAITING_ACK, snoozed_until=until, snooze_reason=reason.strip()
    ):
        raise Conflict(f"This alert is {alert.status}; only an unacknowledged alert can be snoozed.")
    audit(alert, transition="snoozed", actor=actor, reason=reason.strip(), minutes=minutes)
    return alert


def alert_outcome_record(*, alert_id: int, occurred: bool, source: str) -> Alert:
    """Record whether the predicted outcome happened (for PPV); called by the monitoring work. Audited."""
    alert = alert_get(alert_id)
    Alert.objects.filter(pk=alert.pk).update(outcome_occurred=occurred)
    alert.outcome_occurred = occurred
    audit(alert, transition="outcome", actor=source, occurred=occurred)
    return alert


def audit(alert: Alert, *, transition: str, actor: str, **detail: Any) -> None:
    audit_record_create(
        action="alert",
        actor=actor,
        patient_id=decrypt_text(alert.patient_ref_encrypted),
        model_name=alert.model_name,
        model_version=alert.model_version,
        input_digest=alert.input_digest,
        output_summary={"status": alert.status, "band": alert.band, "score": alert.score_text},
        detail={"alert_id": alert.pk, "transition": transition, "unit": alert.unit, **detail},
    )
