"""`sandbox_data_load`: Synthea bundles (time-shifted) through the transaction service, PhysioNet stays in bulk."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from django.db import connection, transaction
from django.db.models import Min, Q, QuerySet
from tqdm import tqdm

from sandbox_ehr.fhir.bundles import bundle_process
from sandbox_ehr.fhir.loader import physionet, synthea
from sandbox_ehr.fhir.models import FhirResource, FhirResourceHistory, FhirToken
from sandbox_ehr.fhir.store import Write, resources_store
from sandbox_ehr.fhir.validation import resource_validate

_STAYS_PER_TRANSACTION = 25
T = TypeVar("T")


@dataclass
class LoadReport:
    """What a load did: loaded and skipped (already present) bundles/stays, resources created or changed."""

    bundles_loaded: int = 0
    bundles_skipped: int = 0
    stays_loaded: int = 0
    stays_skipped: int = 0
    resources_written: int = 0


def _progress(items: Iterable[T], *, total: int, desc: str, show: bool) -> Iterable[T]:
    return tqdm(items, total=total, desc=desc, unit="item", disable=not show, leave=True)


def _existing_patients(ids: list[str]) -> set[str]:
    return set(
        FhirResource.objects.filter(resource_type="Patient", resource_id__in=ids).values_list("resource_id", flat=True)
    )


def synthea_load(path: Path, report: LoadReport, *, anchor: datetime, progress: bool = True) -> None:
    """Load every bundle whose Patient is not stored yet, time-shifted to end before `anchor`, one transaction each."""
    bundles = list(synthea.bundles_read(path))
    present = _existing_patients([p for _, b in bundles if (p := synthea.bundle_patient_id(b))])
    for _name, bundle in _progress(bundles, total=len(bundles), desc="Synthea bundles", show=progress):
        if synthea.bundle_patient_id(bundle) in present:
            report.bundles_skipped += 1
            continue
        shifted = synthea.bundle_time_shift(bundle, anchor)
        response = bundle_process(
            bundle=synthea.as_put_transaction(shifted), grant=None, base_url="", representation=False
        )
        report.bundles_loaded += 1
        report.resources_written += sum(e["response"]["status"].startswith("201") for e in response["entry"])


def _validate_samples(resources: list[dict[str, Any]], seen_codes: set[str]) -> None:
    """Validate Patients and Encounters, and the first Observation of each code (same template)."""
    for resource in resources:
        if resource["resourceType"] != "Observation":
            resource_validate(resource)
            continue
        code = resource["code"]["coding"][0]["code"]
        if code not in seen_codes:
            resource_validate(resource)
            seen_codes.add(code)


def physionet_load(path: Path, count: int, report: LoadReport, *, anchor: datetime, progress: bool = True) -> None:
    """Load `count` selected stays not stored yet, in bulk transactions of a few stays each."""
    stays = physionet.stays_select(path, count)
    present = _existing_patients([physionet.patient_fhir_id(s.patient) for s in stays])
    todo = [s for s in stays if physionet.patient_fhir_id(s.patient) not in present]
    report.stays_skipped += len(stays) - len(todo)
    seen_codes: set[str] = set()
    bar = tqdm(total=len(todo), desc="PhysioNet stays", unit="stay", disable=not progress)
    for start in range(0, len(todo), _STAYS_PER_TRANSACTION):
        chunk = todo[start : start + _STAYS_PER_TRANSACTION]
        resources = [r for stay in chunk for r in physionet.stay_resources(stay, anchor)]
        _validate_samples(resources, seen_codes)
        with transaction.atomic():
            stored = resources_store([Write(r) for r in resources])
        report.stays_loaded += len(chunk)
        report.resources_written += sum(item.changed for item in stored)
        bar.update(len(chunk))
    bar.close()


def _compartments_clear(rows: QuerySet[FhirResource]) -> int:
    """Delete the given resources and their superseded versions; returns how many resources went."""
    with transaction.atomic():
        keys = list(rows.values_list("resource_type", "resource_id"))
        for start in range(0, len(keys), 500):
            chunk = Q()
            for rtype, rid in keys[start : start + 500]:
                chunk |= Q(resource_type=rtype, resource_id=rid)
            FhirResourceHistory.objects.filter(chunk).delete()
        rows.delete()
    return len(keys)


def sandbox_loaded_at() -> datetime | None:
    """When the oldest live Patient of the store was written (None when there is none)."""
    rows = FhirResource.objects.filter(resource_type="Patient", deleted=False)
    return rows.aggregate(oldest=Min("last_updated"))["oldest"]


def physionet_clear() -> int:
    """Delete every PhysioNet stay and what is stored in those patients' compartments (for --reshift)."""
    prefix = physionet.patient_fhir_id("")
    return _compartments_clear(
        FhirResource.objects.filter(Q(patient_id__startswith=prefix) | Q(resource_id__startswith=prefix))
    )


def synthea_clear(path: Path) -> int:
    """Delete the tarball's Synthea patients and what is stored in their compartments (for --reshift).

    Resources outside a compartment (Organization, Practitioner, billing without a patient index) stay;
    the next load PUTs them again by id, so nothing is duplicated.
    """
    ids = [p for _, bundle in synthea.bundles_read(path) if (p := synthea.bundle_patient_id(bundle))]
    return _compartments_clear(
        FhirResource.objects.filter(Q(patient_id__in=ids) | Q(resource_type="Patient", resource_id__in=ids))
    )


def statistics_refresh() -> None:
    """ANALYZE the store's tables after a bulk load, so the query planner sees the new row counts."""
    with connection.cursor() as cursor:
        for model in (FhirResource, FhirResourceHistory, FhirToken):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
