"""A consumer's parsed copy of a patient's online state (`realtime.state_copies`), on real Redis: after each of
its own folds it is exactly the state a whole read gives (resources, order, as-of, pruning), and it is read
whole again when another writer changed the state or the state was built anew."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from realtime.events import VitalEvent
from realtime.state import META, state_apply, state_name, state_read
from realtime.state_copies import StateCopies
from realtime.stream import stream_client
from scoring.features.select import resource_facts

PATIENT = "Patient/copy-1"
SOURCES = frozenset({"bedside"})
NOW = datetime.now(UTC)


@pytest.fixture
def built() -> Iterator[str]:
    """A built state (its meta written) of one patient, deleted afterwards."""
    client, name = stream_client(), state_name(1, PATIENT)
    client.delete(name)
    client.hset(name, META, orjson.dumps({"built_at": "first"}))
    yield name
    client.delete(name)


def _events(round_: int, hours_ago: float) -> list[VitalEvent]:
    """Twelve heart rates and blood pressures of one monitor, five minutes apart, `hours_ago` before now."""
    return [
        VitalEvent(
            source="bedside",
            source_event_id=f"r{round_}-{k}",
            registration_id=1,
            patient=PATIENT,
            event_time=NOW - timedelta(hours=hours_ago, minutes=5 * k),
            code="8867-4" if k % 2 else "8480-6",
            value=80.0 + round_ + k,
            unit="/min" if k % 2 else "mm[Hg]",
        )
        for k in range(12)
    ]


def _fold(copies: StateCopies, events: list[VitalEvent]) -> None:
    """What a consumer does under the patient's lock: fold the events in, then read the state through its copy."""
    client = stream_client()
    applied = state_apply(client, events, device_sources=SOURCES)
    assert copies.read(client, 1, PATIENT, applied[state_name(1, PATIENT)]) == state_read(client, 1, PATIENT)


def test_a_copy_is_the_whole_state_after_each_fold_of_its_own_or_of_another_writer(built: str) -> None:
    mine, other = StateCopies(8), StateCopies(8)
    _fold(mine, _events(0, 80))  # past the look-back once newer data arrive
    _fold(mine, _events(1, 3))  # from the copy: the first round is pruned from the copy and from Redis
    assert len(state_read(stream_client(), 1, PATIENT).resources) == 12  # type: ignore[union-attr]
    _fold(mine, _events(2, 2))
    _fold(other, _events(3, 1.5))  # another consumer folds events in ...
    _fold(mine, _events(4, 1))  # ... so this copy is read whole again, with them
    assert len(state_read(stream_client(), 1, PATIENT).resources) == 48  # type: ignore[union-attr]


def test_a_state_built_anew_is_read_whole_again(built: str) -> None:
    mine, client = StateCopies(8), stream_client()
    _fold(mine, _events(0, 2))
    client.delete(built)  # dropped (a refresh) and built again, at the same revision as before
    client.hset(built, META, orjson.dumps({"built_at": "second"}))
    client.hset(built, "rev", 1)
    _fold(mine, _events(1, 1))
    assert len(state_read(client, 1, PATIENT).resources) == 12  # type: ignore[union-attr]


def test_only_the_most_recently_read_states_are_kept(built: str) -> None:
    copies, client = StateCopies(1), stream_client()
    _fold(copies, _events(0, 2))
    other = state_name(1, "Patient/copy-2")
    client.hset(other, META, orjson.dumps({"built_at": "other"}))
    try:
        assert copies.read(client, 1, "Patient/copy-2", None) is not None
        assert copies.read(client, 1, PATIENT, None) is not None
        assert len(copies) == 1
    finally:
        client.delete(other)


def test_a_replaced_field_brings_its_new_facts_into_the_copy(built: str) -> None:
    """An EHR event for an Observation already in the state replaces it: the copy's facts (what scoring reads)
    are the new value's, as a whole read gives them."""
    copies, client = StateCopies(8), stream_client()

    def hr(version: int, value: float) -> VitalEvent:
        return VitalEvent(
            source="ehr-subscription",
            source_event_id=f"Observation/ehr-hr/_history/{version}",
            registration_id=1,
            patient=PATIENT,
            event_time=NOW - timedelta(minutes=10),
            code="8867-4",
            value=value,
            unit="/min",
        )

    _fold(copies, [hr(1, 80.0)])
    _fold(copies, [hr(2, 95.0)])
    state = copies.read(client, 1, PATIENT, None)
    assert state is not None and state.parsed.facts == [resource_facts(r) for r in state.resources]
    [facts] = [f for f in state.parsed.facts if f is not None]
    assert [value for _, (_, value, _) in facts.points] == [95.0]
