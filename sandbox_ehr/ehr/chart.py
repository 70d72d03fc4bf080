"""What the simulator's chart shows, read over HTTP from the sandbox FHIR server like any FHIR client."""

from dataclasses import dataclass, field
from typing import Any

from fhirapp.client import FhirClient
from fhirapp.errors import UpstreamFhirError
from sandbox_ehr.auth import endpoints
from sandbox_ehr.auth.services import access_token_issue

EHR_CLIENT_ID = "sandbox-ehr-simulator"
VITALS_SHOWN = 40


@dataclass(frozen=True)
class VitalRow:
    """One vital-sign Observation as a table row."""

    when: str
    name: str
    value: str


@dataclass
class Chart:
    """Header data, the current encounter and recent vital signs (or why they could not be read)."""

    encounter: dict[str, Any] | None = None
    vitals: list[VitalRow] = field(default_factory=list)
    error: str = ""


def ehr_fhir_client() -> FhirClient:
    """A client for the sandbox FHIR server with the sandbox clinician's (user-level, read-only) token."""
    token = access_token_issue(
        client_id=EHR_CLIENT_ID, scope="user/*.rs", fhir_user=endpoints.practitioner_url(), expires_in=600
    )
    return FhirClient(endpoints.fhir_base(), token, timeout=10.0)


def _quantity(quantity: Any) -> str | None:
    """ "98.6 %"-style text of a Quantity, at most 4 significant digits (Synthea writes 15)."""
    if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
        return None
    return f"{quantity['value']:.4g} {quantity.get('unit') or quantity.get('code') or ''}".strip()


def _value(obs: dict[str, Any]) -> str:
    if (text := _quantity(obs.get("valueQuantity"))) is not None:
        return text
    if "valueString" in obs:
        return str(obs["valueString"])
    parts = [_quantity(c.get("valueQuantity")) for c in obs.get("component") or () if isinstance(c, dict)]
    if parts and all(parts):  # a panel, e.g. blood pressure: "120 mm[Hg] / 80 mm[Hg]" (systolic first)
        return " / ".join(p for p in parts if p)
    return "—"


def _vital(obs: dict[str, Any]) -> VitalRow:
    code = obs.get("code") or {}
    name = code.get("text") or next((c.get("display") for c in code.get("coding", []) if c.get("display")), "?")
    when = str(obs.get("effectiveDateTime") or (obs.get("effectivePeriod") or {}).get("start") or "")
    return VitalRow(when=when.replace("T", " ")[:16], name=str(name), value=_value(obs))


def _first(bundle: dict[str, Any]) -> dict[str, Any] | None:
    return next((e["resource"] for e in bundle.get("entry", []) if "resource" in e), None)


def current_encounter(client: FhirClient, patient_id: str) -> dict[str, Any] | None:
    """The encounter the chart is about: the latest in-progress one, else the latest by start date (or None).

    An EHR opens a chart in the context of the stay the patient is in; when none is in progress (a
    discharged Synthea patient), the most recent encounter stands in. Raises UpstreamFhirError.
    """
    latest = f"Encounter?patient={patient_id}&_sort=-date&_count=1"
    return _first(client.search_url(f"{latest}&status=in-progress")) or _first(client.search_url(latest))


def chart_load(client: FhirClient, patient_id: str) -> Chart:
    """The current encounter and the most recent vital signs of a patient."""
    chart = Chart()
    try:
        chart.encounter = current_encounter(client, patient_id)
        vitals = client.search_url(
            f"Observation?patient={patient_id}&category=vital-signs&_sort=-date&_count={VITALS_SHOWN}"
        )
        chart.vitals = [_vital(e["resource"]) for e in vitals.get("entry", []) if "resource" in e]
    except UpstreamFhirError as exc:
        chart.error = f"The sandbox FHIR server could not be read: {exc.message}"
    return chart


# Encounter.class codes (HL7 v3 ActCode) of an inpatient stay: only such a stay, in progress, can be discharged.
INPATIENT_CLASSES = frozenset({"IMP", "ACUTE", "NONAC"})


def discharge_refusal(encounter: dict[str, Any] | None, *, patient_id: str, deceased: str) -> str:
    """Why the simulator offers no Discharge for this encounter ("" = it may be discharged).

    Only an in-progress inpatient encounter of a living patient is discharged, as in a real EHR; an
    ambulatory visit, a finished stay or a deceased patient has nothing to discharge.
    """
    if deceased:
        return "The patient has died."
    if encounter is None:
        return "The patient has no encounter."
    subject = str((encounter.get("subject") or {}).get("reference", ""))
    if subject and subject.rsplit("/", 1)[-1] != patient_id:
        return "The encounter is not this patient's."
    if encounter.get("status") != "in-progress":
        return f"Encounter {encounter.get('id')} is {encounter.get('status') or 'of unknown status'}, not in progress."
    if (encounter.get("class") or {}).get("code") not in INPATIENT_CLASSES:
        return f"Encounter {encounter.get('id')} is not an inpatient stay."
    return ""
