"""The alert lifecycle on PostgreSQL: creation, deduplication, band rise, re-alert interval, snooze, escalation,
expiry, acknowledgement and resolution, each audited; policies per model and unit with history."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from alerts.models import Alert, AlertPolicy, MonitoredPatientDay
from alerts.services import (
    alert_acknowledge,
    alert_outcome_record,
    alert_resolve,
    alert_snooze,
    alerts_on_score,
    alerts_on_scores,
    alerts_sweep,
)
from alerts.services.policy import alert_policy_get, alert_policy_update
from audit.models import AuditRecord
from config.errors import Conflict, NotFound, ValidationFailed
from config.keys import decrypt_text, pseudonymize
from scoring.types import PatientScores
from tests.alerts.conftest import PATIENT, REGISTRATION, result

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def score(*results: Any, unit: str = "ICU", patient: str = PATIENT) -> None:
    alerts_on_score(registration_id=REGISTRATION, patient_id=patient, unit=unit, results=list(results))


def alert_audits(transition: str) -> list[AuditRecord]:
    return [r for r in AuditRecord.objects.filter(action="alert") if r.detail.get("transition") == transition]


def test_a_high_band_raises_one_alert_with_score_drivers_age_and_version(
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        score(result("high"))
    alert = Alert.objects.get()
    assert (alert.band, alert.indicator, alert.score_text, alert.model_version) == (
        "high",
        "critical",
        "7 points",
        "rcp-2017",
    )
    assert [d["label"] for d in alert.drivers] == ["Respiratory rate", "SpO2", "Charting"]  # clinical first
    assert alert.data_time == alert.as_of - timedelta(minutes=30)  # the newest input
    assert decrypt_text(alert.patient_ref_encrypted) == PATIENT and alert.patient_pseudonym == pseudonymize(PATIENT)
    assert alert.status == Alert.Status.DELIVERED  # the inbox took it
    assert [r.detail["transition"] for r in AuditRecord.objects.filter(action="alert")] == [
        "created",
        "notification",
        "delivered",
    ]
    assert MonitoredPatientDay.objects.filter(model_name="news2", unit="ICU").count() == 1


def test_shadow_unscored_and_non_alerting_bands_never_alert() -> None:
    score(result("high", model_status="shadow"))
    score(result(None))
    score(result("moderate"))  # the default policy alerts from "high"
    score()
    assert not Alert.objects.exists()
    score(result("low", minutes=1), result("high", minutes=1, model_status="shadow"))  # shadows never alert
    assert not Alert.objects.exists()


def test_no_second_alert_while_one_is_open_and_redelivered_results_change_nothing() -> None:
    score(result("high"))
    score(result("high", minutes=5))
    score(result("high"))  # the same result again (at-least-once delivery)
    score(result("high", minutes=2))  # a late one
    assert Alert.objects.count() == 1
    alert_acknowledge(alert_id=Alert.objects.get().pk, actor="nurse")
    score(result("high", minutes=10))
    assert Alert.objects.count() == 1


def test_a_rising_band_alerts_again_and_supersedes_the_open_alert() -> None:
    alert_policy_update(policy=AlertPolicy(model_name="news2"), changes={"min_band": "moderate"}, actor="a", reason="r")
    score(result("moderate"))
    score(result("high", minutes=5))
    first, second = Alert.objects.order_by("pk")
    assert (first.status, first.close_reason) == (Alert.Status.RESOLVED, "superseded: band rose to high")
    assert (second.band, second.supersedes_id, second.is_open) == ("high", first.pk, True)
    score(result("moderate", minutes=10))  # a fall within the alerting bands neither alerts nor resolves
    assert Alert.objects.count() == 2 and Alert.objects.get(pk=second.pk).is_open


def test_several_patients_and_models_at_once_decide_as_one_at_a_time(django_assert_max_num_queries: Any) -> None:
    """The real-time door hands a step's scores over together: one query reads every latest alert, and each is
    decided as if alone (one open, one raised, one quiet, one resolved; a model that is not the first's)."""
    score(result("high"), patient="open")
    score(result("high"), patient="falls")
    score(result("low"), patient="quiet")  # its patient-day counted
    other = result("high", model_name="qsofa", minutes=1)
    with django_assert_max_num_queries(1):  # nothing to do for any of them: the latest alerts, one query
        alerts_on_scores(
            [
                PatientScores(REGISTRATION, "open", "ICU", [result("high", minutes=1)]),
                PatientScores(REGISTRATION, "quiet", "ICU", [result("low", minutes=1)]),
                PatientScores(REGISTRATION, "quiet", "ICU", [result("high", minutes=1, model_status="shadow")]),
            ]
        )
    alerts_on_scores(
        [
            PatientScores(REGISTRATION, "open", "ICU", [result("high", minutes=2)]),
            PatientScores(REGISTRATION, "new", "ICU", [result("high", minutes=2)]),
            PatientScores(REGISTRATION, "falls", "ICU", [result("low", minutes=2)]),
            PatientScores(REGISTRATION, "open", "ICU", [other]),
        ]
    )
    by = {(decrypt_text(a.patient_ref_encrypted), a.model_name): a for a in Alert.objects.all()}
    assert sorted(by) == [("falls", "news2"), ("new", "news2"), ("open", "news2"), ("open", "qsofa")]
    assert [by[k].is_open for k in sorted(by)] == [False, True, True, True]


def test_several_at_once_read_each_ones_latest_alert_not_an_older_one() -> None:
    """One patient has a resolved alert and a newer open one: read together with another patient's, the newer
    is the one decided on (the same band again changes nothing; the older alone would have raised a third)."""
    score(result("high"), patient="twice")
    first = Alert.objects.get()
    alert_resolve(alert_id=first.pk, actor="nurse", reason="seen")
    Alert.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(days=1))  # past re-alerting
    score(result("high", minutes=1), patient="twice")
    assert Alert.objects.filter(status__in=Alert.OPEN).count() == 1
    alerts_on_scores(
        [
            PatientScores(REGISTRATION, "twice", "ICU", [result("high", minutes=2)]),
            PatientScores(REGISTRATION, "someone", "ICU", [result("low", minutes=2)]),
        ]
    )
    assert Alert.objects.count() == 2


def test_the_same_patient_and_model_twice_in_one_call_sees_its_own_alert() -> None:
    """Decided in order: the second result sees the alert the first raised, not the latest alert read before
    (none), so a fall resolves it."""
    alerts_on_scores(
        [
            PatientScores(REGISTRATION, PATIENT, "ICU", [result("high", minutes=1)]),
            PatientScores(REGISTRATION, PATIENT, "ICU", [result("low", minutes=2)]),
        ]
    )
    alert = Alert.objects.get()
    assert (alert.band, alert.status, alert.close_reason) == ("high", "resolved", "score fell to the low band")


def test_a_late_event_of_the_same_moment_that_raises_the_band_supersedes() -> None:
    """The real-time door scores as of the newest data, so a late lab of an earlier time rescored with it comes
    as of the same moment as the alert: that moment, known better, and a risen band alerts."""
    alert_policy_update(policy=AlertPolicy(model_name="news2"), changes={"min_band": "moderate"}, actor="a", reason="r")
    score(result("moderate", minutes=5))
    score(result("high", minutes=5))
    first, second = Alert.objects.order_by("pk")
    assert (first.status, second.band, second.supersedes_id) == (Alert.Status.RESOLVED, "high", first.pk)
    score(result("high", minutes=4))  # older than the latest alert: late, changes nothing
    assert Alert.objects.count() == 2


def test_re_alert_interval_then_a_new_alert(django_assert_max_num_queries: Any) -> None:
    score(result("high"))
    alert = Alert.objects.get()
    alert_resolve(alert_id=alert.pk, actor="nurse", reason="seen by the outreach team")
    with django_assert_max_num_queries(1):  # suppressed: decided from the latest alert, no lock taken
        score(result("high", minutes=5))
    assert Alert.objects.count() == 1  # within the re-alert interval (240 min by default)
    Alert.objects.filter(pk=alert.pk).update(created_at=timezone.now() - timedelta(minutes=241))
    score(result("high", minutes=6))
    assert Alert.objects.count() == 2


def test_band_fall_resolves_an_open_alert_by_policy() -> None:
    score(result("high"))
    score(result("low", minutes=5))
    alert = Alert.objects.get()
    assert (alert.status, alert.closed_by, alert.close_reason) == (
        "resolved",
        "stratify:alerts",
        "score fell to the low band",
    )
    alert_policy_update(
        policy=AlertPolicy(model_name="news2", unit="ICU"),
        changes={"resolve_when_band_falls": False},
        actor="admin",
        reason="the ICU resolves its own",
    )
    score(result("high", minutes=300))
    Alert.objects.filter(status="resolved").update(created_at=timezone.now() - timedelta(days=1))
    score(result("high", minutes=301))
    score(result("low", minutes=302))
    assert Alert.objects.filter(status__in=Alert.OPEN).count() == 1


def test_acknowledgement_is_audited_and_happens_once() -> None:
    score(result("high"))
    alert = alert_acknowledge(alert_id=Alert.objects.get().pk, actor="nurse.jones")
    assert (alert.status, alert.acknowledged_by) == ("acknowledged", "nurse.jones")
    (record,) = alert_audits("acknowledged")
    assert (record.actor, record.patient_pseudonym, record.model_name) == (
        "nurse.jones",
        pseudonymize(PATIENT),
        "news2",
    )
    with pytest.raises(Conflict):
        alert_acknowledge(alert_id=alert.pk, actor="someone")
    with pytest.raises(NotFound):
        alert_acknowledge(alert_id=alert.pk + 999, actor="someone")
    alert_resolve(alert_id=alert.pk, actor="nurse.jones")
    with pytest.raises(Conflict):
        alert_resolve(alert_id=alert.pk, actor="nurse.jones")
    assert Alert.objects.get().close_reason == "resolved by a clinician"


def test_snooze_needs_a_reason_holds_escalation_and_comes_back() -> None:
    score(result("high"))
    alert = Alert.objects.get()
    with pytest.raises(ValidationFailed):
        alert_snooze(alert_id=alert.pk, actor="nurse", reason=" ", minutes=15)
    with pytest.raises(ValidationFailed):
        alert_snooze(alert_id=alert.pk, actor="nurse", reason="doctor at bedside", minutes=121)
    alert = alert_snooze(alert_id=alert.pk, actor="nurse", reason="doctor at bedside", minutes=15)
    assert (alert.status, alert.snooze_reason) == ("snoozed", "doctor at bedside")
    assert alert_audits("snoozed")[0].detail["reason"] == "doctor at bedside"
    score(result("high", minutes=5))  # the same band while snoozed: nothing new
    Alert.objects.filter(pk=alert.pk).update(waiting_since=timezone.now() - timedelta(hours=5))
    assert alerts_sweep() == {"woken": 0, "escalated": 0, "expired": 0}  # snoozed: no escalation, no expiry
    Alert.objects.filter(pk=alert.pk).update(snoozed_until=timezone.now() - timedelta(seconds=1))
    assert alerts_sweep()["woken"] == 1
    alert.refresh_from_db()
    assert alert.status == "delivered" and alert.waiting_since is not None
    assert timezone.now() - alert.waiting_since < timedelta(minutes=1)
    alert_acknowledge(alert_id=alert.pk, actor="nurse")
    with pytest.raises(Conflict):  # only an unacknowledged alert can be snoozed
        alert_snooze(alert_id=alert.pk, actor="nurse", reason="later", minutes=5)


def test_unacknowledged_alerts_escalate_then_expire() -> None:
    score(result("high"))
    score(result("high"), patient="Patient/pat-2")
    first, second = Alert.objects.order_by("pk")
    Alert.objects.filter(pk=first.pk).update(waiting_since=timezone.now() - timedelta(minutes=31))
    Alert.objects.filter(pk=second.pk).update(waiting_since=timezone.now() - timedelta(minutes=241))
    assert alerts_sweep() == {"woken": 0, "escalated": 1, "expired": 1}
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("escalated", "expired")
    assert first.escalated_at is not None and second.close_reason == "unacknowledged for 240 min"
    assert alerts_sweep() == {"woken": 0, "escalated": 0, "expired": 0}  # escalated once
    alert_acknowledge(alert_id=first.pk, actor="charge.nurse")  # an escalated alert can still be taken on
    assert len(alert_audits("escalated")) == 1 and len(alert_audits("expired")) == 1


def test_policy_per_unit_with_history_and_no_escalation_when_zero() -> None:
    default = alert_policy_update(
        policy=AlertPolicy(model_name="news2"), changes={"escalate_after_minutes": 0}, actor="admin1", reason="pilot"
    )
    ward = alert_policy_update(
        policy=AlertPolicy(model_name="news2", unit="Ward 3"), changes={"enabled": False}, actor="admin1", reason="x"
    )
    with pytest.raises(ValidationFailed):
        alert_policy_update(policy=default, changes={}, actor="admin1", reason="")
    alert_policy_update(policy=default, changes={"realert_minutes": 60}, actor="admin2", reason="fewer repeats")
    assert alert_policy_get("news2", "Ward 3") == ward and alert_policy_get("news2", "ICU") == default
    assert [
        (c.changed_by, c.before.get("realert_minutes"), c.after["realert_minutes"]) for c in default.changes.all()
    ] == [
        ("admin2", 240, 60),
        ("admin1", None, 240),
    ]
    score(result("high"), unit="Ward 3")
    assert not Alert.objects.exists()
    score(result("high"))
    Alert.objects.update(waiting_since=timezone.now() - timedelta(minutes=200))
    assert alerts_sweep()["escalated"] == 0
    assert AuditRecord.objects.filter(action="admin_change").count() == 3


def test_outcomes_are_recorded_for_ppv() -> None:
    score(result("high"))
    alert = alert_outcome_record(alert_id=Alert.objects.get().pk, occurred=True, source="stratify:monitoring")
    assert Alert.objects.get().outcome_occurred is True and alert.outcome_occurred is True
    assert alert_audits("outcome")[0].detail["occurred"] is True
