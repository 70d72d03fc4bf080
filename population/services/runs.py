"""Population runs: start, export over Bulk Data, download (resumable), merge and chunk, dispatch scoring, cancel.

The door into the one pipeline for cohorts: what to export comes from the cohort models' requirements
(`fhirapp.fetch.fetch_plan`, the same plan the CDS and sidebar doors fetch with), the export is read with
SMART Backend Services tokens (`smart_launch.backend`), and the patients are scored in chunks, each a Celery
task (`population.services.scoring`). A run that stops on a failed file keeps the files it has; resuming it
downloads only the others.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.errors import Conflict, ValidationFailed
from fhirapp.bulk import BulkClient, Manifest, Pending
from fhirapp.errors import UpstreamFhirError
from fhirapp.fetch import fetch_plan
from population.models import Cohort, PopulationRun, RunChunk, RunFile
from population.services import data
from population.services.finish import run_end, run_finish_if_done
from scoring.catalogue import definition_of
from smart_launch.backend import backend_access_token

ACTIVE = (
    PopulationRun.Status.QUEUED,
    PopulationRun.Status.EXPORTING,
    PopulationRun.Status.DOWNLOADING,
    PopulationRun.Status.GROUPING,
    PopulationRun.Status.SCORING,
)


def cohort_types(cohort: Cohort) -> list[str]:
    """The resource types the cohort's models read (Patient first), from the one fetch plan."""
    plan = fetch_plan(definition_of(name).requirements for name in cohort.model_names)
    return list(dict.fromkeys(q.template.split("?", 1)[0].split("/", 1)[0] for q in plan))


def run_start(**kwargs: Any) -> PopulationRun:
    """`run_create`, then queue the run after commit."""
    run = run_create(**kwargs)
    run_enqueue(run)
    return run


def run_create(
    *,
    cohort: Cohort,
    since: str = "auto",
    trigger: str = PopulationRun.Trigger.MANUAL,
    scheduled_for: date | None = None,
) -> PopulationRun:
    """Record a run, not yet queued. `since`: "auto" exports only what changed since the last completed run's
    transactionTime (the whole cohort when there is none), "full" exports everything."""
    if since not in ("auto", "full"):
        raise ValidationFailed("since must be 'auto' or 'full'.", extra={"fields": {"since": since[:20]}})
    if not cohort.model_names:
        raise ValidationFailed(f"Cohort {cohort.slug} has no models to run.")
    if cohort.runs.filter(status__in=ACTIVE).exists():
        raise Conflict(f"Cohort {cohort.slug} already has a run in progress.")
    previous = cohort.runs.filter(status=PopulationRun.Status.COMPLETED).order_by("-transaction_time").first()
    incremental = since == "auto" and previous is not None and data.store_dir(cohort).is_dir()
    run = PopulationRun.objects.create(
        cohort=cohort,
        trigger=trigger,
        scheduled_for=scheduled_for,
        previous=previous,
        incremental=incremental,
        since=previous.transaction_time if incremental and previous else None,
    )
    return run


def run_enqueue(run: PopulationRun) -> None:
    """Queue the run's export-and-download step after commit."""
    from population.tasks import run_execute  # the tasks module imports this one

    transaction.on_commit(lambda: run_execute.delay(run.pk))


def run_resume(run: PopulationRun) -> PopulationRun:
    """Start a failed run again where it stopped (finished files are not downloaded again)."""
    if run.status != PopulationRun.Status.FAILED:
        raise Conflict("Only a failed run can be resumed.", extra={"status": run.status})
    run.status, run.error, run.finished_at = PopulationRun.Status.QUEUED, {}, None
    run.save(update_fields=["status", "error", "finished_at"])
    run_enqueue(run)
    return run


def bulk_client(cohort: Cohort) -> BulkClient:
    """A Bulk Data client for the cohort's EHR, with Backend Services tokens for the types it exports."""
    iss = cohort.registration.iss
    scope = " ".join(f"system/{t}.read" for t in cohort_types(cohort))
    return BulkClient(
        iss,
        lambda fresh: backend_access_token(iss=iss, scope=scope, fresh=fresh),
        backoff_cap=settings.BULK_POLL_BACKOFF_CAP_SECONDS,
        poll_total=settings.BULK_POLL_TOTAL_SECONDS,
    )


def run_export(run_id: int, attempt: int = 0) -> Manifest | Pending | None:
    """Kick off the run's export (once) and check it: the manifest (its files recorded), Pending (ask again
    after `wait` s), or None when the run is not waiting for an export (ended, cancelled, or past it)."""
    run = PopulationRun.objects.select_related("cohort__registration").get(pk=run_id)
    if run.status not in (PopulationRun.Status.QUEUED, PopulationRun.Status.EXPORTING):
        return None
    client = bulk_client(run.cohort)
    if run.started_at is None:
        _save(run, started_at=timezone.now())
    if not run.status_url:
        _save(
            run,
            status=PopulationRun.Status.EXPORTING,
            status_url=client.kick_off(_export_path(run), _export_params(run)),
        )
    answer = client.check(run.status_url, attempt)
    if isinstance(answer, Pending):
        _save(run, progress=f"export {answer.progress}".strip())
        return answer
    kinds = [(answer.output, ""), (answer.error, "error"), (answer.deleted, "deleted")]
    for item, kind in ((f, kind) for files, kind in kinds for f in files):
        RunFile.objects.get_or_create(
            run=run,
            url=item.url,
            defaults={
                "resource_type": item.type,
                "is_error_file": kind == "error",
                "is_deleted_file": kind == "deleted",
            },
        )
    _save(
        run,
        transaction_time=_instant(answer.transaction_time),
        status=PopulationRun.Status.DOWNLOADING,
        progress="downloading",
        requires_token=answer.requires_access_token,
    )
    return answer


def _export_path(run: PopulationRun) -> str:
    return f"Group/{run.cohort.group_id}/$export" if run.cohort.group_id else "Patient/$export"


def _export_params(run: PopulationRun) -> dict[str, str]:
    params = {"_type": ",".join(cohort_types(run.cohort)), "_outputFormat": "application/fhir+ndjson"}
    if run.since is not None:
        params["_since"] = run.since.isoformat().replace("+00:00", "Z")
    return params


def run_fetch(run_id: int) -> bool:
    """Download the run's missing files, merge and chunk them, queue the chunks; False when it did not get
    that far (a file failed: the run is failed and resumable; or the run is not downloading)."""
    run = PopulationRun.objects.select_related("cohort__registration").get(pk=run_id)
    if run.status != PopulationRun.Status.DOWNLOADING or not _download(run, bulk_client(run.cohort)):
        return False
    _group_and_dispatch(run)
    return True


def run_export_overdue(run_id: int) -> bool:
    """Whether the run has waited for its export longer than BULK_POLL_TOTAL_SECONDS."""
    started = PopulationRun.objects.filter(pk=run_id).values_list("started_at", flat=True).first()
    return started is not None and (timezone.now() - started).total_seconds() > settings.BULK_POLL_TOTAL_SECONDS


def _save(run: PopulationRun, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(run, name, value)
    PopulationRun.objects.filter(pk=run.pk).exclude(status=PopulationRun.Status.CANCELLED).update(**fields)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _download(run: PopulationRun, client: BulkClient) -> bool:
    """Every file not yet on disk; a failed one is recorded with its reason and the others still come.
    False (the run failed, resumable) when any failed."""
    folder = data.download_dir(run)
    folder.mkdir(parents=True, exist_ok=True)
    for item in run.files.exclude(status=RunFile.Status.DONE).order_by("pk"):
        name = f"{_joined_name(item)}{'.errors' if item.is_error_file else ''}-{item.pk}.ndjson"
        try:
            size = client.download(item.url, folder / name, requires_token=run.requires_token)
        except UpstreamFhirError as exc:
            RunFile.objects.filter(pk=item.pk).update(status=RunFile.Status.FAILED, error=exc.message[:1000])
            continue
        RunFile.objects.filter(pk=item.pk).update(status=RunFile.Status.DONE, size=size, error="")
    failed = list(run.files.filter(status=RunFile.Status.FAILED).values("resource_type", "url", "error"))
    if failed:
        run_end(
            run,
            PopulationRun.Status.FAILED,
            {"message": f"{len(failed)} file(s) could not be downloaded.", "files": failed},
        )
        return False
    _joined(run, folder)
    return True


def _joined_name(item: RunFile) -> str:
    """`<Type>`, or `deleted` for the files of the manifest's deleted[]."""
    return data.DELETED if item.is_deleted_file else item.resource_type


def _joined(run: PopulationRun, folder: Path) -> None:
    """One `<Type>.ndjson` per type (and one `deleted.ndjson`) from the downloaded files (a server may split a
    type into several)."""
    by_type: dict[str, list[RunFile]] = {}
    for item in run.files.filter(is_error_file=False).order_by("pk"):
        by_type.setdefault(_joined_name(item), []).append(item)
    for rtype, items in by_type.items():
        with (folder / f"{rtype}.ndjson").open("wb") as out:
            for item in items:
                with (folder / f"{rtype}-{item.pk}.ndjson").open("rb") as part:
                    while piece := part.read(1 << 20):
                        out.write(piece)
                    if not piece.endswith(b"\n"):
                        out.write(b"\n")


def _group_and_dispatch(run: PopulationRun) -> None:
    from population.tasks import chunk_score  # the tasks module imports this one

    _save(run, status=PopulationRun.Status.GROUPING, progress="grouping patients")
    types = cohort_types(run.cohort)
    data.store_merge(run, types)
    counts = data.chunks_write(run, types)
    with transaction.atomic():
        RunChunk.objects.filter(run=run).delete()
        RunChunk.objects.bulk_create([RunChunk(run=run, number=n, patients=c) for n, c in enumerate(counts)])
        _save(
            run,
            status=PopulationRun.Status.SCORING,
            patients_total=sum(counts),
            chunks_total=len(counts),
            chunks_done=0,
            patients_scored=0,
            progress="scoring",
        )
        for number in range(len(counts)):
            transaction.on_commit(lambda n=number: chunk_score.delay(run.pk, n))  # type: ignore[misc]
    if not counts:
        run_finish_if_done(run.pk)


def run_fail(run_id: int, exc: BaseException) -> None:
    """Mark a run failed with the reason (the export task gave up)."""
    run = PopulationRun.objects.select_related("cohort").get(pk=run_id)
    if run.status in ACTIVE:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        run_end(run, PopulationRun.Status.FAILED, {"message": str(message)[:1000]})


def run_cancel(run: PopulationRun) -> PopulationRun:
    """Stop a run: its export is cancelled at the EHR, its queued chunks do nothing."""
    run.refresh_from_db()
    if run.status not in ACTIVE:
        raise Conflict("The run has already ended.", extra={"status": run.status})
    run_end(run, PopulationRun.Status.CANCELLED)
    if run.status_url:
        try:
            bulk_client(run.cohort).cancel(run.status_url)
        except UpstreamFhirError as exc:
            run.error = {"message": f"The EHR's export could not be cancelled: {exc.message}"}
            run.save(update_fields=["error"])
    return run
