"""Score one chunk of a run's patients through the one pipeline, exactly as the CDS door scores one patient.

Each patient's resources become a `PatientSnapshot` (tagged with the export they came from), and each
cohort model scores them with `scoring.services.score_with_shadows` (its declared share via `model_share`, each
patient's Observations read once for every model; exact TreeSHAP drivers, refusals and notes as for one patient)
as of the export's transactionTime. A chunk commits its results, its audit records (one "score" record per
inference, pseudonymised, as for CDS calls) and its `done` flag in one transaction, under the chunk's row lock: a
worker killed mid-chunk leaves nothing behind, and a chunk already done is never written twice. Each attempt holds
the chunk's lease until the task's time limit; once it has run out unfinished (a killed or hung worker) the chunk
reconciler (`population.services.reconcile`) queues the chunk again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit.services import audit_records_create
from config.gc_pause import collector_paused
from config.leases import lease_free
from fhirapp.patient import patient_unit
from fhirapp.services.writeback import write_back_submit
from fhirapp.snapshot import PatientSnapshot
from population.models import PatientResult, PopulationRun, RunChunk
from population.services.data import chunk_path, chunk_patients
from population.services.finish import run_finish_if_done
from scoring.features.select import parsed_resources
from scoring.presentation import clinical_drivers
from scoring.services import score_audit_entry, score_many_with_shadows
from scoring.types import ScoreResult

_BAND_ORDER = {"low": 0, "moderate": 1, "high": 2}


def chunk_score(*, run_id: int, number: int, owner: str = "") -> int:
    """Score chunk `number` of the run once, as attempt `owner` (the Celery task id); the number of patients scored
    now (0: done before, run stopped, or another attempt holds the chunk's lease)."""
    run = PopulationRun.objects.select_related("cohort__registration").get(pk=run_id)
    chunk = RunChunk.objects.get(run=run, number=number)
    if chunk.done or run.status != PopulationRun.Status.SCORING or not chunk_claim(chunk.pk, owner):
        return 0
    with collector_paused():
        rows, audits, served = _chunk_results(run, number)
    with transaction.atomic():
        if RunChunk.objects.select_for_update().values_list("done", flat=True).get(pk=chunk.pk):
            return 0  # an attempt whose lease ran out (a hung worker) finds the chunk scored by the next one
        PatientResult.objects.filter(run=run, chunk=number).delete()
        PatientResult.objects.bulk_create(rows)
        audit_records_create(audits)
        RunChunk.objects.filter(pk=chunk.pk).update(done=True, lease_until=None, lease_owner="")
        PopulationRun.objects.filter(pk=run.pk).update(
            chunks_done=F("chunks_done") + 1, patients_scored=F("patients_scored") + chunk.patients
        )
        if run.cohort.write_back:
            _write_back(run, served)
    run_finish_if_done(run.pk)
    return chunk.patients


def chunk_claim(chunk_id: int, owner: str) -> bool:
    """Take the chunk's lease for one attempt, until the chunk task's time limit (config.leases); False when it is
    done or another attempt holds it (a duplicate message). The same task (its retry, its message delivered again)
    may take it back."""
    now = timezone.now()
    until = now + timedelta(seconds=settings.POPULATION_CHUNK_TIME_LIMIT_SECONDS)
    rows = RunChunk.objects.filter(lease_free(now, owner), pk=chunk_id, done=False)
    return bool(rows.update(attempts=F("attempts") + 1, lease_until=until, lease_owner=owner[:64]))


def _chunk_results(
    run: PopulationRun, number: int
) -> tuple[list[PatientResult], list[dict[str, Any]], list[tuple[str, ScoreResult]]]:
    """Parse and score the chunk; its parsed resources are freed on return (before the collector resumes)."""
    return _score_patients(run, number, chunk_patients(chunk_path(run, number)))


def _score_patients(
    run: PopulationRun, number: int, patients: Mapping[str, list[dict[str, Any]]]
) -> tuple[list[PatientResult], list[dict[str, Any]], list[tuple[str, ScoreResult]]]:
    as_of = run.transaction_time
    assert as_of is not None  # set when the export completed, before any chunk exists
    previous = _previous(run, list(patients))
    snapshots = [patient_snapshot(pid, resources, as_of) for pid, resources in patients.items()]
    shares = [(s.patient_id, parsed_resources(s.resources)) for s in snapshots]  # read once for every model
    rows, audits, served = [], [], []
    for model_name in run.cohort.model_names:
        batch = score_many_with_shadows(model_name=model_name, patients=shares, as_of=as_of)
        for snapshot, results in zip(snapshots, batch, strict=True):
            pid = snapshot.patient_id
            audits += [{**score_audit_entry(r, pid), "detail": {"population_run": run.pk}} for r in results]
            rows.append(result_row(run, number, snapshot, results[0], previous.get((pid, model_name))))
            served.append((pid, results[0]))
    return rows, audits, served


def patient_snapshot(patient_id: str, resources: Sequence[dict[str, Any]], as_of: datetime) -> PatientSnapshot:
    """The patient's exported resources as a snapshot, each tagged with its type's file of the export
    (added a type at a time, as the CDS door adds a fetch's Bundle: kept once, shapes checked)."""
    snapshot = PatientSnapshot(patient_id=patient_id, as_of=as_of)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        by_type.setdefault(f"bulk:{resource.get('resourceType')}", []).append(resource)
    for key, items in by_type.items():
        snapshot.add(items, key=key, source="bulk", received_at=as_of)
        snapshot.sources[key] = "bulk"
    return snapshot


def _previous(run: PopulationRun, patients: list[str]) -> dict[tuple[str, str], tuple[str, float | None]]:
    if run.previous_id is None:
        return {}
    rows = PatientResult.objects.filter(run_id=run.previous_id, patient_id__in=patients).values_list(
        "patient_id", "model_name", "band", "rank_value"
    )
    return {(pid, model): (band, value) for pid, model, band, value in rows}


def result_row(
    run: PopulationRun,
    number: int,
    snapshot: PatientSnapshot,
    result: ScoreResult,
    previous: tuple[str, float | None] | None,
) -> PatientResult:
    """The stored row of one served result, with its change since the previous run."""
    value = result.probability if result.probability is not None else result.points
    value = value if result.scored else None
    before_band, before_value = previous or ("", None)
    band = result.band or "" if result.scored else ""
    delta = value - before_value if value is not None and before_value is not None else None
    change = _BAND_ORDER.get(band, -1) - _BAND_ORDER.get(before_band, -1) if band and before_band else 0
    top = clinical_drivers(result)
    return PatientResult(
        run=run,
        chunk=number,
        patient_id=snapshot.patient_id,
        patient_name=_name(snapshot.patient),
        unit=patient_unit(snapshot.resources),
        model_name=result.model_name,
        model_version=result.model_version,
        scored=result.scored,
        probability=result.probability,
        points=result.points,
        rank_value=value,
        band=band,
        summary=result.summary[:300],
        top_driver=top[0].text[:300] if top else "",
        drivers=[_driver(d) for d in result.drivers],
        reasons=list(result.reasons),
        input_digest=result.input_digest,
        data_time=max(result.data_times.values(), default=None),
        previous_band=before_band,
        delta=delta,
        band_change=(change > 0) - (change < 0),
        changed=previous is not None and (band != before_band or bool(delta)),
    )


def _driver(driver: Any) -> dict[str, Any]:
    return {
        "feature": driver.feature,
        "label": driver.label,
        "value_text": driver.value_text,
        "text": driver.text,
        "contribution": driver.contribution,
        "direction": driver.direction,
        "context": driver.context,
    }


def _name(patient: Mapping[str, Any] | None) -> str:
    names = (patient or {}).get("name") or []
    first = names[0] if names and isinstance(names[0], dict) else {}
    parts = [*(first.get("given") or []), first.get("family") or ""]
    return " ".join(str(p) for p in parts if p)[:200] or str(first.get("text") or "")[:200]


def _write_back(run: PopulationRun, served: list[tuple[str, ScoreResult]]) -> None:
    """The cohort writes back: each new scored result follows its model's write-back policy."""
    for pid, result in served:
        write_back_submit(
            result=result,
            patient_id=pid,
            encounter_id=None,
            fhir_base_url=run.cohort.registration.iss,
            source="population",
            service_id=f"population:{run.cohort.slug}",
        )
