"""Outcomes taken in for the performance monitors: stored by pseudonym, one batch at a time, all or nothing.

Two ways in: a labelled CSV file (`manage.py import_outcomes FILE`, or the admin's upload form), read here;
and a collection from a registered EHR over FHIR (`population.services.outcomes`, which fetches and hands the
converted records to `outcomes_store`). The patient appears only as `config.keys.pseudonymize` of its FHIR
id, the pseudonym the served-inference store uses, so outcomes meet the scores without raw identifiers.

The file: a header row, then one outcome per row.

    patient,model,label,time
    Patient/physionet-p100001,sepsis,1,2026-03-01T14:00:00Z
    0f3a...64 hex digits...,readmission,0,2026-03-31T00:00:00+02:00

`patient` is a FHIR reference `Patient/<id>` or the 64-hex pseudonym itself; `model` a catalogue ML model;
`label` 1 (the outcome occurred at `time`) or 0 (followed without it until `time`); `time` ISO 8601 with a UTC
offset, not in the future. Any bad row refuses the whole file, with every bad row's line and reason.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from audit.models import AuditRecord
from audit.services import audit_record_create
from config.errors import ValidationFailed
from config.keys import pseudonymize
from scoring.catalogue import definition
from scoring.models import Outcome, OutcomeImport

COLUMNS = ("patient", "model", "label", "time")
LABELS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
PSEUDONYM = re.compile(r"^[0-9a-f]{64}$")
REFERENCE = re.compile(r"^Patient/([A-Za-z0-9\-.]{1,64})$")  # FHIR id: [A-Za-z0-9\-\.]{1,64}
MAX_ROWS = 200_000
MAX_ERRORS_SHOWN = 50
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class OutcomeItem:
    """One outcome to store: the model, the patient's pseudonym, whether it occurred, when, and its source key."""

    model_name: str
    pseudonym: str
    occurred: bool
    at: datetime
    source_key: str


def source_key(*parts: str) -> str:
    """sha256 of what identifies an outcome at its source (a resource's URL; a file row's content)."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def outcomes_store(*, kind: str, source: str, items: Sequence[OutcomeItem], actor: str) -> OutcomeImport:
    """Store a batch in one transaction (those already stored, by source key, are skipped) and audit it."""
    keys = {(i.model_name, i.source_key) for i in items}
    with transaction.atomic():
        known = set(Outcome.objects.filter(source_key__in={k for _, k in keys}).values_list("model_name", "source_key"))
        new = {(i.model_name, i.source_key): i for i in items if (i.model_name, i.source_key) not in known}
        batch = OutcomeImport.objects.create(
            kind=kind, source=source[:500], rows=len(items), created=len(new), imported_by=actor[:150]
        )
        Outcome.objects.bulk_create(
            [
                Outcome(
                    model_name=i.model_name,
                    patient_pseudonym=i.pseudonym,
                    occurred=i.occurred,
                    at=i.at,
                    source_key=i.source_key,
                    batch=batch,
                )
                for i in new.values()
            ]
        )
        audit_record_create(
            action=AuditRecord.Action.OUTCOME_IMPORT,
            actor=actor,
            output_summary={"rows": len(items), "created": len(new), "occurred": sum(i.occurred for i in new.values())},
            detail={"batch": batch.pk, "kind": kind, "source": source[:500]},
        )
    return batch


def _patient(text: str) -> str:
    if PSEUDONYM.match(text):
        return text
    found = REFERENCE.match(text)
    if not found:
        raise ValueError("patient must be Patient/<id> or the 64-hex pseudonym")
    return pseudonymize(found.group(1))


def _model(text: str) -> str:
    model = definition(text)
    if model is None or model.kind != "ml":
        raise ValueError(f"model {text[:64]!r} is not an ML model of the catalogue")
    return model.name


def _time(text: str, now: datetime) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"time {text[:40]!r} is not ISO 8601") from exc
    if parsed.tzinfo is None:
        raise ValueError("time needs a UTC offset, e.g. 2026-03-01T14:00:00Z")
    if parsed > now + CLOCK_SKEW:
        raise ValueError("time is in the future")
    return parsed


def _row(row: dict[str, str], now: datetime) -> OutcomeItem:
    values = {c: (row.get(c) or "").strip() for c in COLUMNS}
    label = values["label"].lower()
    if label not in LABELS:
        raise ValueError("label must be 1 or 0 (true/false, yes/no)")
    pseudonym, model, at = _patient(values["patient"]), _model(values["model"]), _time(values["time"], now)
    return OutcomeItem(model, pseudonym, LABELS[label], at, source_key("file", model, pseudonym, label, at.isoformat()))


def outcomes_parse(text: str) -> list[OutcomeItem]:
    """Every row of a labelled CSV file; ValidationFailed listing each bad row (line and reason) otherwise."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValidationFailed(
            f"The file needs the columns {', '.join(COLUMNS)}; missing: {', '.join(missing)}.",
            extra={"missing_columns": missing},
        )
    items, errors, now = [], [], timezone.now()
    for row in reader:
        if reader.line_num > MAX_ROWS + 1:
            raise ValidationFailed(f"The file has more than {MAX_ROWS} rows; split it.")
        try:
            items.append(_row(row, now))
        except ValueError as exc:
            errors.append({"line": reader.line_num, "error": str(exc)})
    if errors:
        raise ValidationFailed(
            f"{len(errors)} row(s) refused; nothing was stored.", extra={"rows": errors[:MAX_ERRORS_SHOWN]}
        )
    if not items:
        raise ValidationFailed("The file has no outcome rows.")
    return items


def outcomes_import_file(*, text: str, name: str, actor: str) -> OutcomeImport:
    """Parse a labelled file and store it whole (nothing stored when any row is bad)."""
    return outcomes_store(kind=OutcomeImport.Kind.FILE, source=name, items=outcomes_parse(text), actor=actor)
