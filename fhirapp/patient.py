"""Reading FHIR R4 Patient fields that people are shown (http://hl7.org/fhir/R4/patient.html)."""

from collections.abc import Mapping
from typing import Any


def deceased_text(patient: Mapping[str, Any]) -> str:
    """Patient.deceased[x] in words: the date of death (deceasedDateTime), "yes" (deceasedBoolean true), or ""
    when the patient is alive or death is not recorded."""
    when = patient.get("deceasedDateTime")
    if isinstance(when, str) and when:
        return when[:10]
    return "yes" if patient.get("deceasedBoolean") is True else ""
