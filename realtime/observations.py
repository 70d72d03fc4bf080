"""A VitalEvent as the FHIR Observation the models read, and where it sits in a patient's online state.

Pure functions (no I/O). The Observation carries exactly the fields scoring reads (code, category, subject,
effective time, valueQuantity with the UCUM code), shaped as the sandbox loader and EHRs write vitals
(FHIR R4 vital-signs profile, http://hl7.org/fhir/R4/observation-vitalsigns.html), so an event scores as the
same Observation read from the EHR does.

Identity in the state (`state_key`):
- a device event is its own resource, keyed by (source, source event id);
- an EHR event (sent by the EHR subscription, not by a registered device source) whose source event id is
  `Observation/<id>` (optionally `/_history/<version>`) replaces that Observation of the initial snapshot, so
  an Observation read at build time and notified again is counted once; `Observation/<id>#<LOINC>` is one
  component of a panel (e.g. a blood-pressure panel split into systolic and diastolic events) and updates
  that component of `Observation/<id>`.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from realtime.events import VitalEvent
from scoring.features.fhir_index import CODE_TO_COLUMN, LOINC, convert
from scoring.features.spec import BP_PANEL_CODES, PHYSIONET_OBSERVATIONS

UCUM = "http://unitsofmeasure.org"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
CATEGORY_OF: dict[str, str] = {c: o.category for o in PHYSIONET_OBSERVATIONS for c in (o.loinc, *o.alternates)}
_EHR_ID = re.compile(
    r"^Observation/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?(?:#(?P<code>[0-9]{1,7}-[0-9]))?$"
)

Resource = dict[str, Any]


@dataclass(frozen=True, slots=True)
class StateKey:
    """Where an event's resource sits in the state: the field (`Type/id` or `dev:...`) and, for a panel, the
    component code it updates."""

    field: str
    resource_id: str
    component: str | None = None


def state_key(event: VitalEvent, *, from_device: bool) -> StateKey:
    """The state field of `event` (see the module docstring)."""
    match = None if from_device else _EHR_ID.match(event.source_event_id)
    if match is None:
        digest = hashlib.sha256(f"{event.source}\x00{event.source_event_id}".encode()).hexdigest()[:32]
        return StateKey(f"Observation/dev-{digest}", f"dev-{digest}")
    return StateKey(f"Observation/{match['id']}", match["id"], match["code"])


def unit_problem(code: str, value: float, unit: str) -> str | None:
    """Why (code, value, unit) cannot be read as the models read it; None when it can.

    A code of the feature spec needs a unit it converts from (never guessed: `convert`); a panel code has
    no single value; other LOINC codes are kept as sent (the models ignore what they do not read).
    """
    if code in BP_PANEL_CODES:
        return f"{code} is a blood-pressure panel; send its systolic and diastolic values as separate events"
    column = CODE_TO_COLUMN.get(code)
    if column is not None and convert(column, value, unit) is None:
        return f"unit {unit!r} is not a unit Stratify converts for LOINC {code} ({column})"
    return None


def _quantity(event: VitalEvent) -> dict[str, Any]:
    return {"value": event.value, "unit": event.unit, "system": UCUM, "code": event.unit}


def _time(event: VitalEvent) -> str:
    return event.event_time.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _category(code: str) -> list[dict[str, Any]]:
    category = CATEGORY_OF.get(code)
    return [{"coding": [{"system": CATEGORY_SYSTEM, "code": category}]}] if category else []


def observation_from_event(event: VitalEvent, key: StateKey, existing: Resource | None = None) -> Resource:
    """The Observation of `event` at `key`; a component event updates `existing` (the panel it belongs to)."""
    if key.component is None:
        resource: Resource = {
            "resourceType": "Observation",
            "id": key.resource_id,
            "status": "final",
            "category": _category(event.code),
            "code": {"coding": [{"system": LOINC, "code": event.code}]},
            "subject": {"reference": event.patient},
            "effectiveDateTime": _time(event),
            "valueQuantity": _quantity(event),
        }
        if event.device_id:
            resource["device"] = {"display": event.device_id}
        return resource
    return _component_merge(event, key, existing)


def _component_merge(event: VitalEvent, key: StateKey, existing: Resource | None) -> Resource:
    panel = copy.deepcopy(existing) if existing else {}
    panel.update(
        resourceType="Observation",
        id=key.resource_id,
        status=panel.get("status", "final"),
        subject={"reference": event.patient},
        effectiveDateTime=_time(event),
    )
    panel.setdefault("category", _category(event.code))
    panel.setdefault("code", {"text": "panel (its components were notified one by one)"})
    kept = [c for c in panel.get("component") or () if event.code not in _codes(c)]
    mine = {"code": {"coding": [{"system": LOINC, "code": event.code}]}, "valueQuantity": _quantity(event)}
    panel["component"] = [*kept, mine]
    return panel


def _codes(component: Any) -> set[str]:
    coding = ((component or {}).get("code") or {}).get("coding") or () if isinstance(component, dict) else ()
    return {str(c.get("code")) for c in coding if isinstance(c, dict)}
