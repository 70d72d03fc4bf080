"""Signed checkpoints of the audit chain's head, kept outside the database.

A checkpoint names the newest record (id and hash) and how many records the chain then held, signed with
HMAC-SHA256 under the chain key (AUDIT_CHAIN_KEY, never in the database). Celery beat appends one to
AUDIT_CHECKPOINT_FILE (JSON lines) and writes it to the log (`stratify.audit.checkpoint`), so a copy lives
wherever logs are shipped. `audit_verify --checkpoints FILE` then proves every checkpointed record is still
there with the same hash and as many records before it: removing the newest records, or the whole trail, is
found even though what is left still chains.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings
from django.utils import timezone

from audit.models import AuditRecord
from config.keys import audit_chain_key

logger = logging.getLogger("stratify.audit.checkpoint")
_DOMAIN = b"stratify-audit-checkpoint\n"  # a checkpoint signature is never a valid record hash


def _signature(body: dict[str, Any]) -> str:
    payload = _DOMAIN + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return hmac.new(audit_chain_key(), payload, hashlib.sha256).hexdigest()


def audit_checkpoint_create(*, path: Path | None = None) -> dict[str, Any] | None:
    """Sign the chain's head now, append it to the checkpoint file and log it; None while the trail is empty."""
    head = AuditRecord.objects.order_by("-id").values("id", "record_hash").first()
    if head is None:
        return None
    body = {
        "at": timezone.now().isoformat(),
        "last_id": head["id"],
        "head": head["record_hash"],
        "records": AuditRecord.objects.filter(id__lte=head["id"]).count(),
    }
    checkpoint = {**body, "signature": _signature(body)}
    line = orjson.dumps(checkpoint).decode()
    target = Path(path or settings.AUDIT_CHECKPOINT_FILE)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")
    logger.info("audit checkpoint %s", line)
    return checkpoint


@dataclass(frozen=True)
class CheckpointProblem:
    """A checkpoint the database no longer matches (or that is not ours)."""

    line: int
    reason: str


def _read(path: Path) -> Iterator[tuple[int, Any]]:
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text.strip():
            try:
                yield number, orjson.loads(text)
            except orjson.JSONDecodeError:
                yield number, None


def audit_checkpoints_verify(path: Path) -> tuple[int, CheckpointProblem | None]:
    """(checkpoints checked, the first one the trail contradicts or None)."""
    checked = 0
    for number, checkpoint in _read(path):
        checked += 1
        problem = _problem(checkpoint)
        if problem is not None:
            return checked, CheckpointProblem(number, problem)
    return checked, None


def _problem(checkpoint: Any) -> str | None:
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("signature"), str):
        return "not a checkpoint"
    body = {k: v for k, v in checkpoint.items() if k != "signature"}
    if not hmac.compare_digest(_signature(body), checkpoint["signature"]):
        return "signature does not verify (not signed with this AUDIT_CHAIN_KEY, or edited)"
    last_id = int(body["last_id"])  # signed by us: an integer
    stored = AuditRecord.objects.filter(pk=last_id).values_list("record_hash", flat=True).first()
    if stored is None:
        return f"record id={last_id} it names is missing (records were removed)"
    if stored != body.get("head"):
        return f"record id={last_id} has another hash than when it was checkpointed"
    if AuditRecord.objects.filter(id__lte=last_id).count() != body.get("records"):
        return f"the trail up to id={last_id} no longer holds {body.get('records')} records"
    return None
