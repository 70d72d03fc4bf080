"""The stream consumer in this process, on real Redis, PostgreSQL and the sandbox EHR over HTTP (live server):
the online state is built once from the EHR, events are applied and rescored once, redelivered or claimed entries
change nothing, refreshes drop the state, failures stay pending and end dead-lettered."""

from typing import Any

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from joserfc.jwk import ECKey

from audit.models import AuditRecord
from realtime.consumer import Consumer, batch_parse, stream_trim
from realtime.events import VitalEvent
from realtime.models import DeviceVital, Rescore, RescoredEvent
from realtime.state import state_name, state_read
from realtime.stream import DEAD_LETTER, GROUP, STREAM, publish, publish_refresh, stream_client
from sandbox_ehr.fhir.faults import fault_clear, fault_inject
from tests.realtime import listeners
from tests.realtime.conftest import GROWING_TABLES, table_scans
from tests.realtime.ward import hr_event, ward_setup

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def ward(live_server: Any, settings: Any, device_key: ECKey) -> dict[str, Any]:
    return ward_setup(live_server, settings, device_key)


@pytest.fixture
def consumer() -> Consumer:
    c = Consumer("test-a")
    c.group_ensure()
    return c


def _send(post: Any, ward: dict[str, Any], *numbers: int) -> None:
    response = post({"events": [hr_event(ward, n, 100 + n, minutes_ago=30 - n) for n in numbers]})
    assert response.status_code == 200, response.content


def _pending() -> int:
    return int(stream_client().xpending(STREAM, GROUP)["pending"])


def test_events_are_rescored_once_from_a_state_built_once(
    ward: dict[str, Any], consumer: Consumer, post: Any, captured: list[dict[str, Any]]
) -> None:
    _send(post, ward, 1, 2, 3)
    assert consumer.step(block_ms=0) == 3
    [rescore] = Rescore.objects.all()
    assert rescore.events == 3 and RescoredEvent.objects.count() == 3
    assert {r["model"] for r in rescore.results} == {"sepsis", "news2", "qsofa"}
    assert [c["results"][0].model_name for c in captured] == ["sepsis", "news2", "qsofa"]
    call = captured[0]
    assert set(call) == {"registration_id", "patient_id", "unit", "results"}
    assert (call["registration_id"], call["patient_id"]) == (ward["registration"].pk, ward["patient"])
    assert call["unit"] and call["results"][0].model_status != "shadow"
    assert AuditRecord.objects.filter(action="realtime_state").count() == 1
    scores = AuditRecord.objects.filter(action="score", detail__realtime_rescore=rescore.pk)
    assert scores.count() == sum(len(c["results"]) for c in captured)
    assert _pending() == 0
    # The state holds the device vitals as Observations, beside what the EHR had.
    state = state_read(stream_client(), ward["registration"].pk, f"Patient/{ward['patient']}")
    assert state is not None
    meta, resources = state.meta, state.resources
    assert meta["ehr"] > 0 and sum(1 for r in resources if r.get("device")) == 3
    # More events: one more rescore, from the same state (no second fetch).
    _send(post, ward, 4)
    consumer.step(block_ms=0)
    assert Rescore.objects.count() == 2 and AuditRecord.objects.filter(action="realtime_state").count() == 1


def test_a_redelivered_entry_changes_nothing(
    ward: dict[str, Any], consumer: Consumer, post: Any, captured: list[dict[str, Any]]
) -> None:
    _send(post, ward, 1, 2)
    consumer.step(block_ms=0)
    calls = len(captured)
    events = [row.as_event() for row in DeviceVital.objects.select_related("source")]
    publish(events)  # the same events once more (a producer's retry, the outbox relay)
    assert consumer.step(block_ms=0) == 2
    assert Rescore.objects.count() == 1 and RescoredEvent.objects.count() == 2 and len(captured) == calls
    assert _pending() == 0


def test_a_dead_consumers_entries_are_claimed_and_scored_exactly_once(
    ward: dict[str, Any], consumer: Consumer, post: Any, settings: Any, captured: list[dict[str, Any]]
) -> None:
    dead = Consumer("test-dead", stream_client())
    _send(post, ward, 1, 2)
    assert len(dead._new(0)) == 2  # read, never acknowledged: it died before doing the work
    _send(post, ward, 3)
    [((registration_id, patient), items)] = batch_parse(dead._new(0)).events.items()
    dead._patients({(registration_id, patient): [e for _, e in items]})  # scored and committed, then it died
    assert _pending() == 3 and Rescore.objects.count() == 1
    settings.REALTIME_CLAIM_IDLE_MS = 0
    assert consumer.step(block_ms=0) == 3
    assert _pending() == 0
    assert sorted(RescoredEvent.objects.values_list("source_event_id", flat=True)) == ["hr-1", "hr-2", "hr-3"]
    assert Rescore.objects.count() == 2  # hr-1 and hr-2 once; hr-3 not again


def test_events_another_consumer_rescores_after_the_steps_read_are_not_rescored_again(
    ward: dict[str, Any], consumer: Consumer, post: Any, captured: list[dict[str, Any]], monkeypatch: Any
) -> None:
    """A step reads which of its events were rescored before it takes the patients' locks; another consumer that
    commits a rescore of the same events in between (here: before this step, which read nothing) makes this
    step's store fail on their uniqueness, so they stay pending, and their redelivery finds them taken in."""
    _send(post, ward, 1, 2)
    other = Consumer("test-other", stream_client())
    [((registration_id, patient), items)] = batch_parse(other._new(0)).events.items()
    other._patients({(registration_id, patient): [e for _, e in items]})  # committed, not acknowledged
    calls = len(captured)
    monkeypatch.setattr("realtime.consumer.events_rescored", lambda events: set())  # read before that commit
    publish([row.as_event() for row in DeviceVital.objects.select_related("source")])
    assert consumer.step(block_ms=0) == 2
    assert Rescore.objects.count() == 1 and RescoredEvent.objects.count() == 2 and _pending() == 4
    monkeypatch.undo()
    consumer._own_checked = False  # its pending entries, delivered again
    assert consumer.step(block_ms=0) == 2
    assert Rescore.objects.count() == 1 and RescoredEvent.objects.count() == 2
    assert _pending() == 2  # this consumer's done (found taken in); the other's entries stay its own
    assert len(captured) == calls  # the failed store stopped at the events' uniqueness, before any listener


def test_a_refresh_drops_the_state_and_the_next_event_rebuilds_it(
    ward: dict[str, Any], consumer: Consumer, post: Any, captured: list[dict[str, Any]]
) -> None:
    patient = f"Patient/{ward['patient']}"
    _send(post, ward, 1)
    consumer.step(block_ms=0)
    publish_refresh(ward["registration"].pk, patient)
    consumer.step(block_ms=0)
    assert not stream_client().exists(state_name(ward["registration"].pk, patient))
    _send(post, ward, 2)
    consumer.step(block_ms=0)
    assert AuditRecord.objects.filter(action="realtime_state").count() == 2
    resources = _resources(ward, patient)
    assert sum(1 for r in resources if r.get("device")) == 2  # the earlier device vital came back from our table


def test_a_failing_listener_rolls_back_the_rescore_and_the_entries_end_dead_lettered(
    ward: dict[str, Any], consumer: Consumer, post: Any, settings: Any
) -> None:
    settings.REALTIME_SCORE_LISTENERS = ["tests.realtime.listeners.failing"]
    _send(post, ward, 1, 2)
    consumer.step(block_ms=0)
    assert Rescore.objects.count() == 0 and RescoredEvent.objects.count() == 0 and _pending() == 2
    assert not AuditRecord.objects.filter(action="score").exists()
    settings.REALTIME_CLAIM_IDLE_MS, settings.REALTIME_MAX_DELIVERIES = 0, 1
    assert consumer.step(block_ms=0) == 0
    assert _pending() == 0
    letters: list[Any] = stream_client().xrange(DEAD_LETTER)  # type: ignore[assignment]
    assert [orjson.loads(f[b"event"])["source_event_id"] for _, f in letters] == ["hr-1", "hr-2"]
    assert {f[b"reason"] for _, f in letters} == {b"too many deliveries"}


def _transactions() -> int:
    return len(set(Rescore.objects.extra(select={"tx": "xmin::text"}).values_list("tx", flat=True)))


def test_a_steps_patients_are_stored_in_one_transaction_and_one_that_fails_holds_nobody_back(
    ward: dict[str, Any], consumer: Consumer, post: Any, settings: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr("realtime.consumer.STORE_SECONDS", 0.0)  # a long step: stored patient by patient (a
    # group's patients not scored by then go back to the step's list, for the next store)
    events = [hr_event(ward, 1, 91, minutes_ago=20, patient=p) for p in ("patient", "other")]
    assert post({"events": events}).status_code == 200
    assert consumer.step(block_ms=0) == 2
    assert Rescore.objects.count() == 2 and _transactions() == 2 and _pending() == 0
    monkeypatch.setattr("realtime.consumer.STORE_SECONDS", 60.0)
    events = [hr_event(ward, 2, 92, minutes_ago=18, patient=p) for p in ("patient", "other")]
    assert post({"events": events}).status_code == 200
    assert consumer.step(block_ms=0) == 2
    assert Rescore.objects.count() == 4 and _transactions() == 3  # both patients' rescores: one transaction
    assert _pending() == 0
    settings.REALTIME_SCORE_LISTENERS = ["tests.realtime.listeners.failing_for"]
    listeners.FAIL_FOR.add(ward["other"])
    try:
        events = [hr_event(ward, 3, 95, minutes_ago=5, patient=p) for p in ("patient", "other")]
        assert post({"events": events}).status_code == 200
        assert consumer.step(block_ms=0) == 2
    finally:
        listeners.FAIL_FOR.clear()
    assert Rescore.objects.filter(patient=f"Patient/{ward['patient']}").count() == 3  # stored alone, acknowledged
    assert Rescore.objects.filter(patient=f"Patient/{ward['other']}").count() == 2  # rolled back, still pending
    pending: list[Any] = stream_client().xpending_range(STREAM, GROUP, "-", "+", 10)  # type: ignore[assignment]
    entries: list[Any] = stream_client().xrange(STREAM, pending[0]["message_id"], pending[0]["message_id"])  # type: ignore[assignment]
    [(_, fields)] = entries
    assert len(pending) == 1 and orjson.loads(fields[b"event"])["source_event_id"] == "hr-other-3"
    assert not RescoredEvent.objects.filter(source_event_id="hr-other-3").exists()
    stored = set(Rescore.objects.values_list("pk", flat=True))
    scores = AuditRecord.objects.filter(action="score")
    assert {r.detail["realtime_rescore"] for r in scores} == stored  # none of the rolled-back rescore's


def test_a_patient_locked_elsewhere_or_whose_lock_expired_stays_pending_and_the_others_go_on(
    ward: dict[str, Any], consumer: Consumer, post: Any, monkeypatch: Any, captured: list[dict[str, Any]]
) -> None:
    registration = ward["registration"].pk
    monkeypatch.setattr("realtime.consumer.LOCK_WAIT_SECONDS", 0.2)
    busy = stream_client().lock(f"stratify:rt:lock:{registration}:Patient/{ward['other']}", timeout=30)
    assert busy.acquire(blocking=False)  # another consumer is rescoring the other patient
    events = [hr_event(ward, 1, 91, minutes_ago=10, patient=p) for p in ("patient", "other")]
    assert post({"events": events}).status_code == 200
    assert consumer.step(block_ms=0) == 2
    busy.release()
    assert list(Rescore.objects.values_list("patient", flat=True)) == [f"Patient/{ward['patient']}"]
    assert [p["message_id"] for p in _pending_entries()] == [_entry_of("hr-other-1")]
    # The lock of the septic patient expires while the step scores (a long step): not stored, left pending.
    draft = Consumer._draft

    def expiring(self: Consumer, key: Any, *args: Any) -> Any:
        found = draft(self, key, *args)
        if key[1] == f"Patient/{ward['patient']}":
            stream_client().delete(f"stratify:rt:lock:{registration}:{key[1]}")
        return found

    monkeypatch.setattr(Consumer, "_draft", expiring)
    assert post({"events": [hr_event(ward, 2, 92, minutes_ago=5)]}).status_code == 200
    assert consumer.step(block_ms=0) == 1
    assert Rescore.objects.count() == 1 and not RescoredEvent.objects.filter(source_event_id="hr-2").exists()
    assert _entry_of("hr-2") in [p["message_id"] for p in _pending_entries()]


def _pending_entries() -> list[Any]:
    return stream_client().xpending_range(STREAM, GROUP, "-", "+", 100)  # type: ignore[return-value]


def _entry_of(source_event_id: str) -> bytes:
    entries: list[Any] = stream_client().xrange(STREAM)  # type: ignore[assignment]
    return next(
        i for i, f in entries if b"event" in f and orjson.loads(f[b"event"])["source_event_id"] == source_event_id
    )


def test_an_unreadable_entry_is_dead_lettered(ward: dict[str, Any], consumer: Consumer) -> None:
    stream_client().xadd(STREAM, {"event": b"{not json"})
    stream_client().xadd(STREAM, {"something": b"else"})
    consumer.step(block_ms=0)
    assert _pending() == 0 and stream_client().xlen(DEAD_LETTER) == 2


def test_an_ehr_that_fails_leaves_the_entries_pending_and_a_refused_token_is_fetched_again(
    ward: dict[str, Any], consumer: Consumer, post: Any, captured: list[dict[str, Any]]
) -> None:
    fault_inject(status=503, times=100, methods=("GET",))
    _send(post, ward, 1)
    consumer.step(block_ms=0)
    assert _pending() == 1 and Rescore.objects.count() == 0
    fault_clear()
    fault_inject(status=401, times=5, methods=("GET",))  # every first-pass read refused: a fresh token is asked
    _send(post, ward, 2)
    consumer.step(block_ms=0)
    assert Rescore.objects.count() == 1 and _pending() == 1  # hr-1 waits for its claim; hr-2 is done
    fault_clear()


def test_housekeeping_trims_what_was_acknowledged(
    ward: dict[str, Any], consumer: Consumer, post: Any, captured: Any
) -> None:
    _send(post, ward, 1, 2, 3)
    consumer.step(block_ms=0)
    consumer.housekeep(force=True)
    assert stream_client().xlen(STREAM) <= 1  # the last delivered entry is kept
    assert stream_trim(stream_client()) == 0


def test_an_ehr_observation_notified_again_replaces_the_snapshots_copy(
    ward: dict[str, Any], consumer: Consumer, post: Any, captured: list[dict[str, Any]]
) -> None:
    """An Observation of the snapshot, notified again by the EHR subscription (as `Observation/<id>`), is one
    resource in the state, not two; a panel component updates its panel."""
    patient = f"Patient/{ward['patient']}"
    _send(post, ward, 1)
    consumer.step(block_ms=0)
    before = _resources(ward, patient)
    hr = max(
        (r for r in before if r.get("resourceType") == "Observation" and _code(r) == "8867-4" and not r.get("device")),
        key=lambda r: r["effectiveDateTime"],
    )
    again = VitalEvent(
        source="ehr-subscription",
        source_event_id=f"Observation/{hr['id']}/_history/2",
        registration_id=ward["registration"].pk,
        patient=patient,
        event_time=hr["effectiveDateTime"],
        code="8867-4",
        value=hr["valueQuantity"]["value"] + 1,
        unit="/min",
    )
    panel = [
        VitalEvent(
            source="ehr-subscription",
            source_event_id=f"Observation/bp-1#{code}",
            registration_id=ward["registration"].pk,
            patient=patient,
            event_time=hr["effectiveDateTime"],
            code=code,
            value=value,
            unit="mm[Hg]",
        )
        for code, value in (("8480-6", 120), ("8462-4", 70), ("8480-6", 118))
    ]
    publish([again, *panel])
    consumer.step(block_ms=0)
    after = _resources(ward, patient)
    assert len(after) == len(before) + 1  # the panel is new; the notified HR replaced its copy
    [replaced] = [r for r in after if r["id"] == hr["id"]]
    assert replaced["valueQuantity"]["value"] == hr["valueQuantity"]["value"] + 1
    [bp] = [r for r in after if r["id"] == "bp-1"]
    assert sorted((c["code"]["coding"][0]["code"], c["valueQuantity"]["value"]) for c in bp["component"]) == [
        ("8462-4", 70.0),
        ("8480-6", 118.0),
    ]


def _code(resource: dict[str, Any]) -> str:
    return str(((resource.get("code") or {}).get("coding") or [{}])[0].get("code"))


def _resources(ward: dict[str, Any], patient: str) -> list[dict[str, Any]]:
    state = state_read(stream_client(), ward["registration"].pk, patient)
    return [] if state is None else state.resources


def test_a_group_whose_events_cannot_be_folded_in_stays_pending_and_is_scored_next_time(
    ward: dict[str, Any], consumer: Consumer, post: Any, monkeypatch: Any, captured: list[dict[str, Any]]
) -> None:
    """The events of a group of patients are folded in with one transaction; when it fails (Redis), none of
    those patients is scored, their copies are forgotten and their entries stay pending for the next try."""
    patients = ("patient", "other")
    assert post({"events": [hr_event(ward, 1, 91, minutes_ago=10, patient=p) for p in patients]}).status_code == 200
    assert consumer.step(block_ms=0) == 2 and len(consumer.copies) == 2
    assert post({"events": [hr_event(ward, 2, 92, minutes_ago=5, patient=p) for p in patients]}).status_code == 200

    def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("Redis went away")

    monkeypatch.setattr("realtime.consumer.state_apply", down)
    assert consumer.step(block_ms=0) == 2
    assert Rescore.objects.count() == 2 and _pending() == 2 and len(consumer.copies) == 0
    monkeypatch.undo()
    consumer._own_checked = False  # as when this consumer starts again: its own pending entries first
    assert consumer.step(block_ms=0) == 2
    assert Rescore.objects.count() == 4 and _pending() == 0
    assert sorted(RescoredEvent.objects.values_list("source_event_id", flat=True)) == [
        "hr-1", "hr-2", "hr-other-1", "hr-other-2",
    ]  # fmt: skip


def test_a_steps_reads_of_growing_tables_are_answered_by_indexes(
    ward: dict[str, Any], consumer: Consumer, post: Any, settings: Any
) -> None:
    """Rescores, the events they took in, alerts, audit records and served inferences grow with every event: a
    step's queries of them (beyond inserts; the product's listener, the alerts' decision, included) must not scan
    them whole, however long the retention."""
    settings.REALTIME_SCORE_LISTENERS = ["alerts.services.alerts_on_scores"]
    _send(post, ward, 1)
    consumer.step(block_ms=0)  # the state built
    _send(post, ward, 2, 3)
    with CaptureQueriesContext(connection) as queries:
        assert consumer.step(block_ms=0) == 2
    assert Rescore.objects.count() == 2
    read = {t for q in queries.captured_queries for t in GROWING_TABLES if f'"{t}"' in q["sql"]}
    assert {"realtime_rescoredevent", "alerts_alert", "fhirapp_auditrecord"} <= read
    assert table_scans(queries.captured_queries) == []


def test_one_patient_whose_events_cannot_be_folded_in_holds_nobody_else_back(
    ward: dict[str, Any], consumer: Consumer, post: Any, monkeypatch: Any, captured: list[dict[str, Any]]
) -> None:
    """A group's events are folded in together; when that fails, each patient's alone: only the patient whose
    fold fails (a broken state, say) stays pending."""
    from realtime import consumer as module

    apply = module.state_apply
    broken = f"Patient/{ward['other']}"

    def failing_for_other(client: Any, events: Any, **kwargs: Any) -> Any:
        if any(e.patient == broken for e in events):
            raise ValueError("a field of this patient's state is not JSON")
        return apply(client, events, **kwargs)

    monkeypatch.setattr(module, "state_apply", failing_for_other)
    patients = ("patient", "other")
    assert post({"events": [hr_event(ward, 1, 91, minutes_ago=10, patient=p) for p in patients]}).status_code == 200
    assert consumer.step(block_ms=0) == 2
    assert list(Rescore.objects.values_list("patient", flat=True)) == [f"Patient/{ward['patient']}"]
    assert [p["message_id"] for p in _pending_entries()] == [_entry_of("hr-other-1")]
