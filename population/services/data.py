"""A cohort's NDJSON on disk: each run's downloads, the cohort's merged data, and per-chunk files.

Layout under POPULATION_DIR/<cohort>/: `run-<id>/download/<Type>.ndjson` (what the export returned),
`store/<Type>.ndjson` (the cohort's data as of its last run: a full run replaces it, an incremental
`_since` run replaces the resources that changed and drops those the export lists as deleted),
`run-<id>/chunks/<n>.ndjson` (one scoring task's
patients, every resource of theirs). Everything streams line by line: memory grows with the number of
patients (their chunk numbers), never with the size of the files.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson
from django.conf import settings

from config.fhir_json import by_patient, patient_of
from population.models import Cohort, PopulationRun

DELETED = "deleted"  # the joined download of the manifest's deleted[] files


def cohort_dir(cohort: Cohort) -> Path:
    """The cohort's folder."""
    return Path(settings.POPULATION_DIR) / cohort.slug


def download_dir(run: PopulationRun) -> Path:
    """Where a run's files are downloaded."""
    return cohort_dir(run.cohort) / f"run-{run.pk}" / "download"


def store_dir(cohort: Cohort) -> Path:
    """The cohort's merged data."""
    return cohort_dir(cohort) / "store"


def chunk_path(run: PopulationRun, number: int) -> Path:
    """One chunk's NDJSON file."""
    return cohort_dir(run.cohort) / f"run-{run.pk}" / "chunks" / f"{number}.ndjson"


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as source:
        for line in source:
            if line.strip():
                yield line.rstrip(b"\n") + b"\n"


def store_merge(run: PopulationRun, types: list[str]) -> None:
    """Fold the run's downloads into the cohort's store: replace it (full run) or update it (incremental)."""
    store, downloads = store_dir(run.cohort), download_dir(run)
    if not run.incremental:
        shutil.rmtree(store, ignore_errors=True)
    store.mkdir(parents=True, exist_ok=True)
    for rtype in types:
        delta = downloads / f"{rtype}.ndjson"
        if delta.is_file():
            _merge_one(store / f"{rtype}.ndjson", delta)
    if (downloads / f"{DELETED}.ndjson").is_file():
        _forget(store, types, deleted_keys(downloads / f"{DELETED}.ndjson"))


def deleted_keys(path: Path) -> set[tuple[str, str]]:
    """(type, id) of every DELETE entry of a deleted[] file (Bulk Data: transaction Bundles, request.url Type/id)."""
    keys: set[tuple[str, str]] = set()
    for line in _lines(path):
        for entry in orjson.loads(line).get("entry") or ():
            request = entry.get("request") if isinstance(entry, dict) else None
            if not isinstance(request, dict):
                continue
            rtype, _, rid = str(request.get("url") or "").partition("/")
            if request.get("method") == "DELETE" and rtype and rid:
                keys.add((rtype, rid))
    return keys


def _forget(store: Path, types: list[str], keys: set[tuple[str, str]]) -> None:
    """Drop the deleted resources from the store (a deleted Patient leaves the cohort: no chunk lists them)."""
    for rtype in types:
        ids = {rid for kind, rid in keys if kind == rtype}
        target = store / f"{rtype}.ndjson"
        if not ids or not target.is_file():
            continue
        kept = target.with_name(target.name + ".forgetting")
        with kept.open("wb") as out:
            for line in _lines(target):
                if orjson.loads(line).get("id") not in ids:
                    out.write(line)
        kept.replace(target)


def _merge_one(target: Path, delta: Path) -> None:
    """Resources of `delta` replace those with the same id in `target` (new ones are added)."""
    if not target.is_file():
        shutil.copyfile(delta, target)
        return
    changed = {orjson.loads(line).get("id") for line in _lines(delta)}
    merged = target.with_name(target.name + ".merging")
    with merged.open("wb") as out:
        for line in _lines(target):
            if orjson.loads(line).get("id") not in changed:
                out.write(line)
        for line in _lines(delta):
            out.write(line)
    merged.replace(target)


def chunks_write(run: PopulationRun, types: list[str]) -> list[int]:
    """Split the cohort's store into chunk files of `chunk_size` patients; the patient count of each chunk."""
    store = store_dir(run.cohort)
    patients = _patient_chunks(store / "Patient.ndjson", run.cohort.chunk_size)
    counts = [0] * (max(patients.values()) + 1 if patients else 0)
    for number in patients.values():
        counts[number] += 1
    folder = chunk_path(run, 0).parent
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    outs: dict[int, IO[bytes]] = {}
    try:
        for rtype in ["Patient", *[t for t in types if t != "Patient"]]:
            path = store / f"{rtype}.ndjson"
            if path.is_file():
                _distribute(path, patients, outs, folder)
    finally:
        for out in outs.values():
            out.close()
    return counts


def _patient_chunks(path: Path, size: int) -> dict[str, int]:
    order: dict[str, int] = {}
    if path.is_file():
        for line in _lines(path):
            pid = patient_of(orjson.loads(line))
            if pid and pid not in order:
                order[pid] = len(order) // max(1, size)
    return order


def _distribute(path: Path, patients: dict[str, int], outs: dict[int, IO[bytes]], folder: Path) -> None:
    for line in _lines(path):
        number = patients.get(patient_of(orjson.loads(line)))
        if number is None:
            continue  # not a cohort patient's (or names none)
        if number not in outs:
            outs[number] = (folder / f"{number}.ndjson").open("ab")
        outs[number].write(line)


def chunk_patients(path: Path) -> dict[str, list[dict[str, Any]]]:
    """A chunk file's resources per patient, in file order (the Patient first)."""
    return by_patient(orjson.loads(line) for line in _lines(path))
