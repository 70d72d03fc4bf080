"""Reading what people are shown of a patient from FHIR R4: Patient fields (http://hl7.org/fhir/R4/patient.html)
and the unit the patient is in (http://hl7.org/fhir/R4/encounter.html)."""

from collections.abc import Iterable, Mapping
from typing import Any


def deceased_text(patient: Mapping[str, Any]) -> str:
    """Patient.deceased[x] in words: the date of death (deceasedDateTime), "yes" (deceasedBoolean true), or ""
    when the patient is alive or death is not recorded."""
    when = patient.get("deceasedDateTime")
    if isinstance(when, str) and when:
        return when[:10]
    return "yes" if patient.get("deceasedBoolean") is True else ""


def patient_unit(resources: Iterable[Mapping[str, Any]]) -> str:
    """The unit the patient is in: of their latest Encounter (by period.start), the location whose status is
    active, else the last one listed; its display ("" when none names one). One definition for the population
    worklist and the real-time alerts' routing."""
    encounters = [r for r in resources if r.get("resourceType") == "Encounter"]
    latest = max(encounters, default=None, key=lambda e: str((e.get("period") or {}).get("start") or ""))
    locations = [x for x in (latest or {}).get("location") or () if isinstance(x, dict)]
    current = next((x for x in locations if x.get("status") == "active"), locations[-1] if locations else {})
    return str((current.get("location") or {}).get("display") or "")[:200]
