"""An alert in FHIR terms: a Flag (R4, https://hl7.org/fhir/R4/flag.html), pure JSON, no I/O.

The Flag is `active` while the alert is open and `inactive` once resolved or expired (its period ends then).
Category `clinical` (flag-category); code: our alert CodeSystem with the model's name, the text saying band
and score; author: the model version as a logical Device reference, as the write-back's RiskAssessment does;
identifier: our alert id, so a repeated create matches (conditional create) instead of duplicating.
"""

from datetime import datetime
from typing import Any

from config.fhir_json import CANONICAL, fhir_instant, prune
from fhirapp.resources import DEVICE_SYSTEM, MODEL_SYSTEM

ALERT_SYSTEM = f"{CANONICAL}/CodeSystem/alert"  # code = model name: "an alert of this model"
ALERT_IDENTIFIER_SYSTEM = f"{CANONICAL}/sid/alert"  # value = our alert id
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"


def flag_build(
    *,
    alert_id: int,
    patient_id: str,
    model_name: str,
    model_version: str,
    title: str,
    band: str,
    score_text: str,
    summary: str,
    start: datetime,
    end: datetime | None,
) -> dict[str, Any]:
    """The alert's Flag; `end` None = still open (active)."""
    return prune(
        {
            "resourceType": "Flag",
            "identifier": [{"use": "official", "system": ALERT_IDENTIFIER_SYSTEM, "value": str(alert_id)}],
            "status": "inactive" if end else "active",
            "category": [{"coding": [{"system": FLAG_CATEGORY, "code": "clinical", "display": "Clinical"}]}],
            "code": {
                "coding": [
                    {"system": ALERT_SYSTEM, "code": model_name, "display": f"{title} alert"},
                    {"system": MODEL_SYSTEM, "version": model_version, "code": model_name, "display": title},
                ],
                "text": f"{title} alert: {band} ({score_text}). {summary}",
            },
            "subject": {"reference": patient_id if "/" in patient_id else f"Patient/{patient_id}"},
            "period": {"start": fhir_instant(start), "end": fhir_instant(end) if end else None},
            "author": {
                "type": "Device",
                "identifier": {"system": DEVICE_SYSTEM, "value": f"{model_name}@{model_version}"},
                "display": f"Stratify {title} model {model_version}",
            },
        }
    )
