"""A consumer's parsed copies of the online states it read, so a rescore does not read and parse a whole state.

A state in Redis grows by one field per event within the look-back (every sample is read by the features), and
reading all of it (HGETALL, one JSON parse and one time parse per field) cost more than scoring it once states
held thousands of Observations. A consumer folds a patient's events in and rescores them under the patient's
lock; `state_apply` says which revision its transaction brought the state to and which meta (build) it found.
When that meta is the one copied and the revision is the copied one plus one, nobody else changed the state
since: the copy plus the fields just written is the state, with nothing read. Otherwise (another consumer
folded events in, the state was rebuilt, dropped or expired, or this process has no copy) the whole hash is read
again. Either way the resources handed to scoring are the hash's, in the same order (`realtime.state`).

At most REALTIME_STATE_COPIES states are kept per process, the least recently read dropped first.
"""

from __future__ import annotations

from collections import OrderedDict

import redis

from realtime.state import Applied, State, StateCopy, field_parse, state_fetch, state_name, state_view


class StateCopies:
    """This process's copies of the states it read, the most recently read last."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._copies: OrderedDict[str, StateCopy] = OrderedDict()

    def read(self, client: redis.Redis, registration_id: int, patient: str, applied: Applied | None) -> State | None:
        """The patient's state as `state_read` gives it, after `applied` (this process's last `state_apply` to it,
        under the patient's lock; None: read it whole); None when not built."""
        name = state_name(registration_id, patient)
        copy = self._current(name, applied) or state_fetch(client, name)
        if copy is None:
            return None
        state = state_view(client, name, copy)
        self._copies[name] = copy
        while len(self._copies) > self.size:
            self._copies.popitem(last=False)
        return state

    def __len__(self) -> int:
        return len(self._copies)

    def forget(self, registration_id: int, patient: str) -> None:
        """Drop the patient's copy (after a failure: what the state holds is not known here)."""
        self._copies.pop(state_name(registration_id, patient), None)

    def _current(self, name: str, applied: Applied | None) -> StateCopy | None:
        """The copy brought up to `applied`, when nobody else changed the state since it was taken."""
        copy = self._copies.pop(name, None)
        if copy is None or applied is None or applied.meta != copy.meta or applied.rev != copy.rev + 1:
            return None
        copy.rev = applied.rev
        for field, raw in applied.fields.items():
            copy.put(field, field_parse(raw))
        return copy
