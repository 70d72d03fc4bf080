"""The sidebar's view rows: one panel per model (value, band, trend, drivers, freshness, write-back), the banner.

Every text comes from `scoring.presentation`, the module the CDS cards use too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fhirapp.patient import deceased_text
from fhirapp.selectors import write_back_of_shown
from scoring.features.select import parse_datetime
from scoring.presentation import (
    age_text,
    band_text,
    band_words,
    clinical_drivers,
    clock_text,
    context_text,
    driver_value_text,
    freshness_text,
    not_scored_reasons,
    utc_text,
    value_text,
)
from scoring.selectors import model_card_url
from scoring.trend import Trend
from scoring.types import ScoreResult
from sidebar.svg import driver_bar_svg, trend_svg


@dataclass
class ModelPanel:
    """One model's card in the sidebar."""

    result: ScoreResult
    value_text: str
    band_words: str
    band_text: str  # the band's cut-offs and, for ML models, the base rate
    trend_svg: str
    driver_rows: list[dict[str, Any]]
    freshness: str
    context: str  # charting and time inputs among the drivers, on their own line
    not_scored: list[str]
    card_url: str
    write_back: dict[str, str] | None
    trend_points: Trend = field(default_factory=list)


def driver_rows(result: ScoreResult, limit: int = 5) -> list[dict[str, Any]]:
    """Top drivers in words, with value, unit and age."""
    rows = []
    top = sorted(clinical_drivers(result), key=lambda d: abs(d.contribution), reverse=True)[:limit]
    largest = max((abs(d.contribution) for d in top), default=0.0)
    for d in top:
        taken = result.data_times.get(d.feature)
        rows.append(
            {
                "label": d.label,
                "value": driver_value_text(d),
                "direction": d.direction,
                "text": d.text,
                "when": "" if d.age_hours is None else age_text(d.age_hours),
                "taken_at": clock_text(taken, "%d %b %H:%M") if taken else "",
                "taken_utc": utc_text(taken) if taken else "",
                "contribution": (
                    f"{d.contribution:+g} pt" if result.kind == "rule" else f"{d.contribution:+.2f} log-odds"
                ),
                "bar": driver_bar_svg(d.contribution, largest, direction=d.direction),
            }
        )
    return rows


def model_panel_build(
    result: ScoreResult, trend: Trend, *, patient_id: str, fhir_base: str = "", encounter_id: str | None = None
) -> ModelPanel:
    """Everything the template shows for one model; the write-back line is that of this very assessment."""
    write_back = None
    if result.scored and fhir_base:
        shown = write_back_of_shown(
            result=result, patient_id=patient_id, encounter_id=encounter_id, fhir_base_url=fhir_base
        )
        row = shown.write_back
        write_back = {
            "status": shown.status,
            "text": shown.text,
            "updated_at": row.updated_at.strftime("%d %b %H:%M UTC") if row else "",
            "error": str(row.error if row is not None and row.pk and shown.status != "not written" else "")[:200],
        }
    return ModelPanel(
        result=result,
        value_text=value_text(result),
        band_words=band_words(result),
        band_text=band_text(result),
        trend_svg=trend_svg(trend, kind=result.kind, title=result.title),
        driver_rows=driver_rows(result),
        freshness=freshness_text(result.data_times, result.as_of),
        context=context_text(result),
        not_scored=not_scored_reasons(result),
        card_url=model_card_url(result.model_name, result.model_version),
        write_back=write_back,
        trend_points=trend,
    )


def stay_start(resources: Sequence[Mapping[str, Any]], encounter_id: str) -> datetime | None:
    """Start of the launched (or latest in-progress) Encounter."""
    encounters = [r for r in resources if r.get("resourceType") == "Encounter"]
    chosen = next((e for e in encounters if e.get("id") == encounter_id), None) if encounter_id else None
    chosen = chosen or next((e for e in encounters if e.get("status") == "in-progress"), None)
    period = (chosen or {}).get("period")
    return parse_datetime(period.get("start")) if isinstance(period, dict) else None


def patient_banner(patient: Mapping[str, Any]) -> dict[str, str]:
    """Name, birth date, gender and, when recorded, death (Patient.deceased[x]) for the banner."""
    names = patient.get("name") or [{}]
    name = names[0] if isinstance(names, list) and isinstance(names[0], dict) else {}
    text = name.get("text") or " ".join([*(name.get("given") or []), name.get("family") or ""]).strip()
    return {
        "name": text or "Unnamed patient",
        "birth_date": str(patient.get("birthDate") or "unknown"),
        "gender": str(patient.get("gender") or "unknown"),
        "deceased": deceased_text(patient),
    }
