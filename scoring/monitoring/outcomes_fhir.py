"""Outcomes read from an EHR's FHIR resources (raw JSON, as fetched by `population.services.outcomes`).

- **Sepsis onset**: a Condition coded with the catalogue's outcome (SNOMED CT 91302008 |Sepsis (disorder)|,
  `scoring.catalogue.sepsis`) at its `onsetDateTime` (or `onsetPeriod.start`); one without an onset time, or
  refuted or entered in error, is skipped. Follow-up without it: each inpatient Encounter, until its end, or
  until the collection time while it is in progress (the EHR's record as read then; an EHR that codes
  diagnoses only at discharge should be collected from after discharge).
- **30-day readmission** (SNOMED CT 417005): an inpatient Encounter (class IMP) that starts after an earlier
  inpatient stay of the patient ended is a readmission at its start; the label (`scoring.monitoring.labels`)
  counts it when it starts within the 30 days after the discharge scored. Follow-up: every patient with an
  inpatient stay is followed until the collection time (a readmission elsewhere cannot be seen).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from config.keys import pseudonymize
from scoring.catalogue import definition_of
from scoring.catalogue.definition import SNOMED
from scoring.monitoring.outcomes import OutcomeItem, source_key

Resource = Mapping[str, Any]
INPATIENT = "IMP"
REFUSED_VERIFICATION = {"refuted", "entered-in-error"}


def _instant(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _patient_id(resource: Resource) -> str | None:
    reference = (resource.get("subject") or {}).get("reference")
    if isinstance(reference, str) and reference.startswith("Patient/"):
        return reference.removeprefix("Patient/")
    return None


def _coded(resource: Resource, code: str) -> bool:
    codings = (resource.get("code") or {}).get("coding") or []
    return any(c.get("system") == SNOMED and c.get("code") == code for c in codings if isinstance(c, dict))


def _verification(resource: Resource) -> str:
    codings = (resource.get("verificationStatus") or {}).get("coding") or [{}]
    return str(codings[0].get("code") or "")


def condition_outcomes(model_name: str, iss: str, conditions: Iterable[Resource]) -> list[OutcomeItem]:
    """Onsets of the model's outcome among `conditions`."""
    code = definition_of(model_name).outcome.code
    items = []
    for c in conditions:
        onset = _instant(c.get("onsetDateTime")) or _instant((c.get("onsetPeriod") or {}).get("start"))
        patient = _patient_id(c)
        if onset and patient and _coded(c, code) and _verification(c) not in REFUSED_VERIFICATION:
            key = source_key(iss, f"Condition/{c.get('id')}")
            items.append(OutcomeItem(model_name, pseudonymize(patient), True, onset, key))
    return items


def _inpatient(encounters: Iterable[Resource]) -> dict[str, list[tuple[datetime, datetime | None, str]]]:
    """Per patient: (start, end or None, id) of each inpatient Encounter with a start, by start."""
    stays: dict[str, list[tuple[datetime, datetime | None, str]]] = defaultdict(list)
    for e in encounters:
        period, patient = e.get("period") or {}, _patient_id(e)
        start = _instant(period.get("start"))
        if patient and start and (e.get("class") or {}).get("code") == INPATIENT:
            stays[patient].append((start, _instant(period.get("end")), str(e.get("id"))))
    return {p: sorted(s, key=lambda t: t[0]) for p, s in stays.items()}


def stay_follow_ups(model_name: str, iss: str, encounters: Sequence[Resource], now: datetime) -> list[OutcomeItem]:
    """Followed without the outcome until each inpatient stay's end (or `now` while it is in progress)."""
    items = []
    for patient, stays in _inpatient(encounters).items():
        for _start, end, encounter_id in stays:
            until = min(end or now, now)
            # One record per stay once it ended; one a day while it is in progress (a daily collection).
            when = until.isoformat() if end is not None and end <= now else now.date().isoformat()
            key = source_key(iss, f"Encounter/{encounter_id}", "follow-up", when)
            items.append(OutcomeItem(model_name, pseudonymize(patient), False, until, key))
    return items


def readmission_outcomes(model_name: str, iss: str, encounters: Sequence[Resource], now: datetime) -> list[OutcomeItem]:
    """Readmissions (an inpatient stay starting after an earlier one ended) and each patient's follow-up."""
    items = []
    for patient, stays in _inpatient(encounters).items():
        pseudonym = pseudonymize(patient)
        for k, (start, _end, encounter_id) in enumerate(stays):
            if any(end is not None and end <= start for _, end, _ in stays[:k]):
                items.append(
                    OutcomeItem(model_name, pseudonym, True, start, source_key(iss, f"Encounter/{encounter_id}"))
                )
        key = source_key(iss, f"Patient/{patient}", "follow-up", now.date().isoformat())  # one a day
        items.append(OutcomeItem(model_name, pseudonym, False, now, key))
    return items


def fhir_searches(model_name: str, since: datetime) -> list[tuple[str, dict[str, str]]]:
    """The searches (resource type, parameters) that find the model's outcomes recorded since `since`."""
    outcome, day = definition_of(model_name).outcome, since.date().isoformat()
    stays = ("Encounter", {"class": INPATIENT, "date": f"ge{day}", "_count": "200"})
    if outcome.recorded_as == "readmission":
        return [stays]
    return [("Condition", {"code": f"{SNOMED}|{outcome.code}", "onset-date": f"ge{day}", "_count": "200"}), stays]


def fhir_outcomes(
    model_name: str, iss: str, found: Mapping[str, Sequence[Resource]], now: datetime
) -> list[OutcomeItem]:
    """The outcome records in what `fhir_searches` found (by resource type)."""
    encounters = found.get("Encounter", [])
    if definition_of(model_name).outcome.recorded_as == "readmission":
        return readmission_outcomes(model_name, iss, encounters, now)
    return condition_outcomes(model_name, iss, found.get("Condition", [])) + stay_follow_ups(
        model_name, iss, encounters, now
    )
