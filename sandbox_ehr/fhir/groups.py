"""The sandbox's demo Groups (population cohorts for Bulk Data export): "ICU" and "Diabetes clinic".

ICU: every PhysioNet ICU stay's patient. Diabetes clinic: every patient with a diabetes Condition
(SNOMED CT 44054006 "Diabetes mellitus type 2" or 73211009 "Diabetes mellitus"). Idempotent: storing the
same membership again is a no-op version-wise (the store skips identical content).
"""

from typing import Any

from django.db import transaction

from sandbox_ehr.fhir.models import FhirResource, FhirToken
from sandbox_ehr.fhir.store import Write, resources_store

DIABETES_CODES = ("44054006", "73211009")


def _group(group_id: str, name: str, patients: list[str]) -> dict[str, Any]:
    return {
        "resourceType": "Group",
        "id": group_id,
        "type": "person",
        "actual": True,
        "name": name,
        "quantity": len(patients),
        "member": [{"entity": {"reference": f"Patient/{pid}"}} for pid in sorted(patients)],
    }


def icu_patients() -> list[str]:
    """Patients of the loaded PhysioNet ICU stays."""
    return list(
        FhirResource.objects.live()
        .filter(resource_type="Patient", resource_id__startswith="physionet-")
        .values_list("resource_id", flat=True)
    )


def diabetes_patients() -> list[str]:
    """Patients with a diabetes Condition."""
    rows = (
        FhirToken.objects.filter(
            resource__resource_type="Condition", resource__deleted=False, param="code", code__in=DIABETES_CODES
        )
        .values_list("patient_id", flat=True)
        .distinct()
    )
    return [pid for pid in rows if pid]


@transaction.atomic
def demo_groups_store() -> dict[str, int]:
    """Create or refresh the demo Groups; returns each Group id with its member count."""
    groups = [_group("icu", "ICU", icu_patients()), _group("diabetes-clinic", "Diabetes clinic", diabetes_patients())]
    resources_store([Write(g) for g in groups])
    return {g["id"]: len(g["member"]) for g in groups}
