"""Reads of the sandbox authorization server: clients, and patients of the sandbox FHIR store."""

from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from django.db.models import Q
from oauth2_provider.models import Application

from fhirapp.patient import deceased_text
from sandbox_ehr.fhir.loader.physionet import LABEL_SYSTEM
from sandbox_ehr.fhir.models import FhirResource, FhirToken

PHYSIONET_ID_PREFIX = "physionet-"


def client_get(client_id: str) -> Application | None:
    """A registered application with its SMART profile, or None."""
    return Application.objects.select_related("smart_profile").filter(client_id=client_id).first()


@dataclass(frozen=True)
class PatientSummary:
    """What a picker or a chart header shows about a patient."""

    id: str
    name: str
    gender: str
    birth_date: str
    source: str
    deceased: str = ""  # deceasedDateTime (date part), "yes" for deceasedBoolean true, "" if not known dead
    septic: bool = False  # a PhysioNet stay the data set labels septic
    in_hospital: bool = False  # has an in-progress Encounter

    @property
    def age(self) -> int | None:
        """Age in whole years today, or at death when the date of death is known; None without a birth date."""
        try:
            born = date.fromisoformat(self.birth_date[:10])
        except ValueError:
            return None
        try:
            until = date.fromisoformat(self.deceased[:10]) if self.deceased else date.today()
        except ValueError:
            until = date.today()
        return until.year - born.year - ((until.month, until.day) < (born.month, born.day))


def _display_name(resource: dict[str, Any]) -> str:
    names = resource.get("name") or []
    official = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    if official.get("text"):
        return str(official["text"])
    parts = [*official.get("given", []), official.get("family", "")]
    return " ".join(p for p in parts if p) or f"Patient {resource.get('id', '')}"


def patient_summary(row: FhirResource, in_hospital: bool = False) -> PatientSummary:
    """Summarise one stored Patient resource."""
    resource = orjson.loads(row.content)
    source = "PhysioNet 2019" if row.resource_id.startswith(PHYSIONET_ID_PREFIX) else "Synthea"
    tags = resource.get("meta", {}).get("tag", [])
    septic = any(t.get("system") == LABEL_SYSTEM and t.get("code") == "sepsis" for t in tags)
    return PatientSummary(
        id=row.resource_id,
        name=_display_name(resource),
        gender=resource.get("gender", ""),
        birth_date=resource.get("birthDate", ""),
        source=source,
        deceased=deceased_text(resource),
        septic=septic,
        in_hospital=in_hospital,
    )


def _in_hospital(patient_ids: list[str]) -> set[str]:
    """Which of these patients have an in-progress Encounter."""
    rows = FhirResource.objects.live().filter(
        resource_type="Encounter", status="in-progress", patient_id__in=patient_ids
    )
    return set(rows.values_list("patient_id", flat=True))


def patient_get(patient_id: str) -> PatientSummary | None:
    """A patient of the sandbox store, or None."""
    row = FhirResource.objects.live().filter(resource_type="Patient", resource_id=patient_id).first()
    return patient_summary(row) if row else None


def patient_list(*, query: str = "", offset: int = 0, limit: int = 25) -> tuple[list[PatientSummary], int]:
    """Patients matching a name/id fragment, PhysioNet stays first; returns (page, total)."""
    rows = FhirResource.objects.live().filter(resource_type="Patient")
    for word in query.lower().split()[:4]:
        # Name parts are indexed lower-case by sandbox_ehr.fhir.indexing (param "name").
        named = FhirToken.objects.filter(param="name", code__startswith=word).values("resource_id")
        rows = rows.filter(Q(resource_id__icontains=word) | Q(pk__in=named))
    total = rows.count()
    # PhysioNet ids sort first: the demo's sepsis scores need ICU vital signs.
    ordered = sorted(
        rows.values_list("resource_id", flat=True), key=lambda rid: (not rid.startswith(PHYSIONET_ID_PREFIX), rid)
    )[offset : offset + limit]
    page = FhirResource.objects.live().filter(resource_type="Patient", resource_id__in=ordered)
    by_id = {row.resource_id: row for row in page}
    admitted = _in_hospital(ordered)
    return [patient_summary(by_id[rid], rid in admitted) for rid in ordered if rid in by_id], total
