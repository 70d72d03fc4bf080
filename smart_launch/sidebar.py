"""The sidebar's data: the patient's FHIR resources (clinician's token), scores now and over the stay, view rows."""
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection

from config.errors import ApplicationError
from fhirapp.client import FhirClient
from fhirapp.patient import deceased_text
from scoring.types import ScoreResult, probability_text
from smart_launch.svg import driver_bar_svg, trend_svg

FETCH_SECONDS = 8.0
OBSERVATION_CATEGORIES = ("vital-signs", "laboratory")
HOOK = "patient-view"
TREND_THREADS = 4
BAND_WORDS = {"high": "High risk", "moderate": "Moderate risk", "low": "Low risk"}


@dataclass(frozen=True)
class PatientData:
    """What the EHR returned for the launched patient."""

    resources: list[dict[str, Any]]
    patient: dict[str, Any]
    fetched_at: datetime


@dataclass
class ModelPanel:
    """One model's card in the sidebar."""

    result: ScoreResult
    value_text: str
    band_words: str
    trend_svg: str
    driver_rows: list[dict[str, Any]]
    freshness: str
    not_scored: list[str]
    card_url: str
    write_back: dict[str, str] | None
    trend_points: list[tuple[datetime, float | None]] = field(default_factory=list)


def patient_data_fetch(*, fhir_base: str, token: str, patient_id: str, encounter_id: str,
                       now: datetime) -> PatientData:
    """Patient, recent Observations by category, Conditions, MedicationRequests and the Encounter, in parallel."""
    fhir = FhirClient(fhir_base, token)
    deadline = time.monotonic() + FETCH_SECONDS
    since = (now - timedelta(hours=settings.SMART_OBSERVATION_LOOKBACK_HOURS)).isoformat(timespec="seconds")
    searches: list[tuple[str, dict[str, str]]] = [
        ("Observation", {"patient": patient_id, "category": c, "date": f"ge{since}", "_count": "500"})
        for c in OBSERVATION_CATEGORIES]
    searches += [("Condition", {"patient": patient_id}), ("MedicationRequest", {"patient": patient_id})]
    if not encounter_id:
        searches.append(("Encounter", {"patient": patient_id}))
    with ThreadPoolExecutor(max_workers=len(searches) + 2) as pool:
        patient_future = pool.submit(fhir.read, "Patient", patient_id, deadline=deadline)
        encounter_future = (pool.submit(fhir.read, "Encounter", encounter_id, deadline=deadline)
                            if encounter_id else None)
        found = [pool.submit(fhir.search, kind, params, deadline=deadline) for kind, params in searches]
        patient = patient_future.result()
        resources: list[dict[str, Any]] = [patient]
        if encounter_future is not None:
            resources.append(encounter_future.result())
        for future in found:
            resources += future.result()
    return PatientData(resources=resources, patient=patient, fetched_at=now)


def _effective(resource: dict[str, Any]) -> str:
    value = resource.get("effectiveDateTime") or (resource.get("effectivePeriod") or {}).get("start") or ""
    return str(value)


def resources_as_of(resources: list[dict[str, Any]], as_of: datetime) -> list[dict[str, Any]]:
    """The record as it stood at `as_of`: Observations made later are dropped (the trend never peeks ahead)."""
    kept = []
    for resource in resources:
        if resource.get("resourceType") == "Observation":
            when = _parse(_effective(resource))
            if when is None or when > as_of:
                continue
        kept.append(resource)
    return kept


def _parse(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


Trend = list[tuple[datetime, float | None]]


@dataclass(frozen=True)
class Unavailable:
    """A model bound to the hook that could not score at all (not ready), shown as such."""

    name: str
    title: str
    version: str
    reason: str


@dataclass(frozen=True)
class Scores:
    """Scores at one as-of time: what the sidebar shows, and every inference run (shadows too) for the audit."""

    visible: list[ScoreResult]
    unavailable: list[Unavailable]
    inferences: list[ScoreResult]


def scores_at(*, resources: list[dict[str, Any]], as_of: datetime, patient_id: str,
              per_model: bool = False, encounter_id: str | None = None) -> Scores:
    """Every patient-view model at `as_of`; when one model is not ready, the others still score.

    Scored with `audit=False`: the caller audits `inferences` (see `score_audit_entries`), from the request
    thread and in one transaction, instead of one chained write per inference from the trend's threads.
    """
    from scoring.selectors import hook_models
    from scoring.services import score_for_hook, score_patient  # contract 2

    if not per_model:
        try:
            results = score_for_hook(hook=HOOK, resources=resources, as_of=as_of, patient_id=patient_id,
                                     audit=False, encounter_id=encounter_id)
            return Scores([r for r in results if r.model_status != "shadow"], [], results)
        except ApplicationError:
            pass
    serving: dict[str, Any] = {}
    for b in hook_models(HOOK):
        if b.status != "shadow":
            serving.setdefault(b.name, b)  # display order; the active/canary version first
    scored: list[ScoreResult] = []
    unavailable: list[Unavailable] = []
    for binding in serving.values():
        try:
            scored.append(score_patient(model_name=binding.name, resources=resources, as_of=as_of,
                                        patient_id=patient_id, audit=False, encounter_id=encounter_id))
        except ApplicationError as exc:
            unavailable.append(Unavailable(binding.name, binding.title, binding.version, exc.message))
    return Scores(scored, unavailable, scored)


def _trend_point(resources: list[dict[str, Any]], at: datetime, patient_id: str,
                 per_model: bool, encounter_id: str | None) -> tuple[datetime, list[ScoreResult]]:
    try:
        earlier = scores_at(resources=resources_as_of(resources, at), as_of=at, patient_id=patient_id,
                            per_model=per_model, encounter_id=encounter_id)
        return at, earlier.inferences
    finally:
        connection.close()  # this pool thread's own connection (the serving rows may be read)


@dataclass(frozen=True)
class SidebarScores:
    """Scores now, each visible model's trend, and the "score" audit records of all of it (not yet written)."""

    current: list[ScoreResult]
    unavailable: list[Unavailable]
    trend: dict[str, Trend]
    audit_entries: list[dict[str, Any]]


def scores_now_and_trend(*, resources: list[dict[str, Any]], patient_id: str, now: datetime,
                         stay_start: datetime | None, actor: str = "",
                         encounter_id: str | None = None) -> SidebarScores:
    """Visible scores now, and each model's score recomputed every STEP hours over the WINDOW (within the stay).

    The earlier points are scored in a few threads, without database writes; the caller writes
    `audit_entries` (one per inference now, one trend summary per model version) in one transaction.
    """
    now_scores = scores_at(resources=resources, as_of=now, patient_id=patient_id, encounter_id=encounter_id)
    current = now_scores.visible
    trend: dict[str, Trend] = {r.model_name: [] for r in current}
    step = timedelta(hours=settings.SMART_TREND_STEP_HOURS)
    start = now - timedelta(hours=settings.SMART_TREND_WINDOW_HOURS)
    if stay_start is not None and stay_start > start:
        start = stay_start
    times = [now - k * step for k in range(int((now - start) / step), 0, -1)]
    per_model = bool(now_scores.unavailable)
    with ThreadPoolExecutor(max_workers=TREND_THREADS) as pool:
        points = list(pool.map(lambda at: _trend_point(resources, at, patient_id, per_model, encounter_id),
                               times))
    for at, earlier in points:
        for result in earlier:
            if result.model_name in trend and result.model_status != "shadow":
                trend[result.model_name].append((at, score_value(result)))
    for result in current:
        trend[result.model_name].append((now, score_value(result)))
    entries = score_audit_entries(now_scores.inferences, points, patient_id=patient_id, actor=actor)
    return SidebarScores(current, now_scores.unavailable, trend, entries)


def score_audit_entries(now: list[ScoreResult], trend_points: list[tuple[datetime, list[ScoreResult]]], *,
                        patient_id: str, actor: str = "") -> list[dict[str, Any]]:
    """Audit records of a sidebar's inferences: one per score shown now, one per model version for its trend.

    A trend record lists every recomputation (as-of time, output, band, input digest); its own
    `input_digest` is the sha256 of those digests in time order, so each point stays verifiable.
    """
    from scoring.services import score_audit_entry  # contract 2

    entries = [{**score_audit_entry(r, patient_id), "actor": actor, "detail": {"source": "sidebar"}}
               for r in now]
    grouped: dict[tuple[str, str], list[tuple[datetime, ScoreResult]]] = {}
    for at, results in trend_points:
        for result in results:
            grouped.setdefault((result.model_name, result.model_version), []).append((at, result))
    for (name, version), points in grouped.items():
        first = points[0][1]
        scored = sum(1 for _, r in points if r.scored)
        digest = hashlib.sha256("\n".join(r.input_digest for _, r in points).encode()).hexdigest()
        entries.append({
            "action": "score", "outcome": "success" if scored else "not_scored", "actor": actor,
            "patient_id": patient_id, "model_name": name, "model_version": version,
            "spec_version": first.spec_version, "input_digest": digest,
            "output_summary": {
                "trend": True, "status": first.model_status, "count": len(points), "scored": scored,
                "points": [{"as_of": at.isoformat(timespec="seconds"), "scored": r.scored,
                            "probability": r.probability, "points": r.points, "band": r.band,
                            "input_digest": r.input_digest} for at, r in points]},
            "detail": {"source": "sidebar_trend", "from": points[0][0].isoformat(timespec="seconds"),
                       "to": points[-1][0].isoformat(timespec="seconds"),
                       "step_hours": settings.SMART_TREND_STEP_HOURS},
        })
    return entries


def score_value(result: ScoreResult) -> float | None:
    """The number drawn in the trend: probability for ML models, points for rule scores."""
    if not result.scored:
        return None
    return result.probability if result.kind == "ml" else result.points


def value_text(result: ScoreResult) -> str:
    """`34%` for a calibrated probability, `5 points` for a rule score, `Not scored` otherwise."""
    if not result.scored:
        return "Not scored"
    if result.probability is not None:
        return probability_text(result.probability)
    if result.points is not None:
        points = f"{result.points:g}"
        return f"{points} point{'' if points == '1' else 's'}"
    return "Not scored"


def _age_words(hours: float) -> str:
    if hours < 1:
        return f"{max(hours * 60, 0):.0f} min"
    return f"{hours:.0f} h" if hours >= 10 else f"{hours:.1f} h"


def freshness_text(result: ScoreResult) -> str:
    """Newest and oldest input times relative to the score's as-of time."""
    times = [t for t in result.data_times.values() if isinstance(t, datetime)]
    if not times:
        return "No dated inputs."
    newest = (result.as_of - max(times)).total_seconds() / 3600
    oldest = (result.as_of - min(times)).total_seconds() / 3600
    if len(times) == 1:
        return f"Input from {_age_words(newest)} ago."
    return f"Newest input {_age_words(newest)} ago, oldest {_age_words(oldest)} ago ({len(times)} inputs)."


def not_scored_reasons(result: ScoreResult) -> list[str]:
    """Sentences for a refusal: the model's reasons, then missing and stale inputs."""
    if result.scored:
        return []
    reasons = list(result.notes())
    if result.missing:
        reasons.append("Missing: " + ", ".join(result.missing) + ".")
    if result.stale:
        reasons.append("Too old: " + ", ".join(result.stale) + ".")
    return reasons or ["The model could not score this patient with the data available."]


def _number(value: float) -> str:
    """A clinician-friendly number: 258, 29.1, 4.1, 0.82."""
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}".removesuffix(".0")
    return f"{value:.3g}"


def driver_rows(result: ScoreResult, limit: int = 5) -> list[dict[str, Any]]:
    """Top drivers in words, with value, unit and age."""
    rows = []
    top = sorted(result.drivers, key=lambda d: abs(d.contribution), reverse=True)[:limit]
    largest = max((abs(d.contribution) for d in top), default=0.0)
    for d in top:
        value = d.value_text or ("—" if d.value is None else f"{_number(d.value)} {d.unit}".strip())
        when = "" if d.age_hours is None else f"{_age_words(d.age_hours)} ago"
        taken = result.data_times.get(d.feature)
        rows.append({"label": d.label, "value": value, "when": when, "direction": d.direction,
                     "text": d.text, "taken_at": taken.strftime("%d %b %H:%M") if taken else "",
                     "contribution": (f"{d.contribution:+g} pt" if result.kind == "rule"
                                      else f"{d.contribution:+.2f} log-odds"),
                     "bar": driver_bar_svg(d.contribution, largest, direction=d.direction)})
    return rows


def model_panel_build(result: ScoreResult, trend: "Trend", *, patient_id: str, fhir_base: str = "",
                      encounter_id: str | None = None) -> ModelPanel:
    """Everything the template shows for one model; the write-back line is that of this very assessment."""
    from fhirapp.selectors import write_back_of_shown  # contract 7
    from scoring.selectors import model_card_url  # contract 2

    write_back = None
    if result.scored and fhir_base:
        shown = write_back_of_shown(result=result, patient_id=patient_id, encounter_id=encounter_id,
                                    fhir_base_url=fhir_base)
        row = shown.write_back
        write_back = {"status": shown.status, "text": shown.text,
                      "updated_at": row.updated_at.strftime("%d %b %H:%M UTC") if row else "",
                      "error": str(row.error if row is not None and row.pk and shown.status != "not written"
                                   else "")[:200]}
    return ModelPanel(
        result=result, value_text=value_text(result), band_words=BAND_WORDS.get(result.band or "", ""),
        trend_svg=trend_svg(trend, kind=result.kind, title=result.title),
        driver_rows=driver_rows(result), freshness=freshness_text(result),
        not_scored=not_scored_reasons(result), card_url=model_card_url(result.model_name, result.model_version),
        write_back=write_back, trend_points=trend)


def stay_start(resources: list[dict[str, Any]], encounter_id: str) -> datetime | None:
    """Start of the launched (or latest in-progress) Encounter."""
    encounters = [r for r in resources if r.get("resourceType") == "Encounter"]
    chosen = next((e for e in encounters if e.get("id") == encounter_id), None) if encounter_id else None
    chosen = chosen or next((e for e in encounters if e.get("status") == "in-progress"), None)
    start = ((chosen or {}).get("period") or {}).get("start")
    return _parse(str(start)) if start else None


def patient_banner(patient: dict[str, Any]) -> dict[str, str]:
    """Name, birth date, gender and, when recorded, death (Patient.deceased[x]) for the banner."""
    names = patient.get("name") or [{}]
    name = names[0] if isinstance(names[0], dict) else {}
    text = name.get("text") or " ".join([*(name.get("given") or []), name.get("family") or ""]).strip()
    return {"name": text or "Unnamed patient", "birth_date": str(patient.get("birthDate") or "unknown"),
            "gender": str(patient.get("gender") or "unknown"), "deceased": deceased_text(patient)}
