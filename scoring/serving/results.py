"""Build ScoreResult objects (scored or refused) and the canonical input digest."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from scoring.catalogue import definition
from scoring.models import ModelVersion
from scoring.types import ScoreResult, gap_sentences


def input_digest(names: Sequence[str], values: Sequence[float]) -> str:
    """sha256 over the canonical inputs (feature name -> value, NaN as null): what was assessed, not when.

    Two scores of the same inputs at different times have one digest (the write-back key relies on it);
    time-relative inputs (hours since a value, length of stay) change the values, hence the digest.
    """
    payload = {
        "features": {
            n: (None if isinstance(v, float) and math.isnan(v) else v) for n, v in zip(names, values, strict=True)
        }
    }
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def base_fields(mv: ModelVersion, as_of: datetime, provider: str) -> dict[str, Any]:
    """Fields every result of a model version carries (the outcome coding from its catalogue entry)."""
    model = definition(mv.name)
    return {
        "outcome": model.outcome.concept() if model else {},
        "score_code": model.score_code if model else None,
        "model_name": mv.name,
        "model_version": mv.version,
        "model_sha256": mv.sha256,
        "spec_version": mv.spec_version,
        "model_status": mv.status,
        "kind": mv.kind,
        "title": mv.title,
        "as_of": as_of,
        "horizon_hours": (mv.card or {}).get("horizon_hours"),
        "provider": provider,
    }


def refusal(
    mv: ModelVersion,
    as_of: datetime,
    provider: str,
    *,
    missing: Sequence[str] = (),
    stale: Sequence[str] = (),
    notes: Sequence[str] = (),
    digest: str = "",
    data_times: Mapping[str, datetime] | None = None,
    basis: Sequence[str] = (),
) -> ScoreResult:
    """An honest 'not scored' with the reasons."""
    reasons = gap_sentences(missing, stale) + list(notes)
    return ScoreResult(
        **base_fields(mv, as_of, provider),
        scored=False,
        probability=None,
        points=None,
        band=None,
        indicator="info",
        summary=_refusal_summary(mv.title, missing, stale, notes),
        missing=tuple(missing),
        stale=tuple(stale),
        reasons=tuple(reasons),
        data_times=dict(data_times or {}),
        basis=tuple(basis),
        input_digest=digest,
    )


def _refusal_summary(title: str, missing: Sequence[str], stale: Sequence[str], notes: Sequence[str]) -> str:
    if missing or stale or not notes:
        return f"{title}: not scored ({len(missing) + len(stale)} required input(s) missing or stale)"[:140]
    return f"{title}: not scored: {notes[0]}"[:140]
