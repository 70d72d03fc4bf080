"""Pure FHIR R4 builders: RiskAssessment, Observation, Provenance and AuditEvent (no I/O, no Django).

Every builder returns a `fhir.resources.R4B` object (R4B shares R4's shape for these resources) that
is also valid against the official R4 JSON schema (tests/data/fhir/schema/fhir.schema.json).
Spec: https://hl7.org/fhir/R4/riskassessment.html, observation.html, provenance.html, auditevent.html
"""
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.provenance import Provenance
from fhir.resources.R4B.riskassessment import RiskAssessment

from scoring.types import Driver, ScoreResult

# Our canonical URLs (documented in README "Write-back and audit").
CANONICAL = "https://stratify.example.org/fhir"
MODEL_SYSTEM = f"{CANONICAL}/CodeSystem/model"  # code = model name, Coding.version = model version
SCORE_SYSTEM = f"{CANONICAL}/CodeSystem/score"  # code = model name, the quantity the Observation carries
IDENTIFIER_SYSTEM = f"{CANONICAL}/sid/write-back"  # business identifier = write-back idempotency key
WRITEBACK_TAG_SYSTEM = f"{CANONICAL}/CodeSystem/write-back"  # Provenance has no identifier: tagged instead
DEVICE_SYSTEM = f"{CANONICAL}/sid/model-version"  # Device identifier "<name>@<version>"
DRIVER_EXTENSION = f"{CANONICAL}/StructureDefinition/risk-driver"
AUDIT_SOURCE = f"{CANONICAL}/audit-source"

SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
RISK_PROBABILITY = "http://terminology.hl7.org/CodeSystem/risk-probability"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
PROVENANCE_PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
TOP_DRIVERS = 5
# Observation.derivedFrom may only reference these types (R4 observation.html#Observation.derivedFrom); other
# inputs (Encounter, Condition, MedicationRequest, ...) are in the RiskAssessment's basis and the Provenance.
DERIVED_FROM_TYPES = frozenset({"DocumentReference", "ImagingStudy", "Media", "QuestionnaireResponse",
                                "Observation", "MolecularSequence"})


@dataclass(frozen=True)
class Outcome:
    """A predicted outcome coded in SNOMED CT, with the source of the choice."""

    code: str
    display: str
    text: str


# Outcomes of each model, SNOMED CT International (http://snomed.info/sct):
# - 91302008 |Sepsis (disorder)|: the PhysioNet/CinC 2019 label is Sepsis-3 onset (Reyna et al.,
#   Crit Care Med 2020;48(2):210-217).
# - 417005 |Hospital re-admission (procedure)|: Diabetes-130 label "<30" = readmitted within 30 days
#   (Strack et al., BioMed Res Int 2014:781670); the 30-day horizon travels in whenRange.
# - 271299001 |Patient's condition worsened (finding)|: NEWS2 is a trigger for clinical deterioration
#   (Royal College of Physicians, National Early Warning Score 2, 2017).
# - 419099009 |Dead (finding)|: qSOFA was derived to predict in-hospital death in suspected infection
#   (Seymour et al., JAMA 2016;315(8):762-774).
OUTCOMES: dict[str, Outcome] = {
    "sepsis": Outcome("91302008", "Sepsis (disorder)", "Sepsis onset"),
    "readmission": Outcome("417005", "Hospital re-admission (procedure)", "Readmission within 30 days"),
    "news2": Outcome("271299001", "Patient's condition worsened (finding)", "Clinical deterioration"),
    "qsofa": Outcome("419099009", "Dead (finding)", "In-hospital death with suspected infection"),
}
# NEWS2 total score, SNOMED CT UK edition: 1104051000000101 |Royal College of Physicians National
# Early Warning Score 2 - total score (observable entity)| (UK Core ValueSet EarlyWarningTotalScores).
STANDARD_SCORE_CODES: dict[str, dict[str, str]] = {
    "news2": {"system": SNOMED, "code": "1104051000000101",
              "display": "Royal College of Physicians National Early Warning Score 2 - total score"},
}


def resource_json(resource: Any) -> dict[str, Any]:
    """FHIR JSON (a plain dict) of a fhir.resources object."""
    return dict(orjson.loads(resource.model_dump_json()))


def fhir_instant(value: datetime) -> str:
    """An aware datetime as a FHIR dateTime/instant in UTC ("...Z")."""
    if value.tzinfo is None:
        raise ValueError("FHIR times must be timezone-aware.")
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def risk_assessment_build(
    result: ScoreResult, *, patient_id: str, encounter_id: str | None, identifier: str,
    basis: Sequence[str] | None = None,
) -> RiskAssessment:
    """RiskAssessment for a scored result: method = model+version, prediction, drivers extension."""
    _require_scored(result)
    refs = list(result.basis if basis is None else basis)
    body: dict[str, Any] = {
        "resourceType": "RiskAssessment",
        "identifier": [_identifier(identifier)],
        "status": "final",
        "method": _model_concept(result),
        "code": _score_concept(result),
        "subject": {"reference": f"Patient/{patient_id}"},
        "occurrenceDateTime": fhir_instant(result.as_of),
        "basis": [{"reference": ref} for ref in refs] or None,
        "prediction": [_prediction(result)],
        "extension": [_driver_extension(result, d) for d in result.drivers] or None,
        "note": [{"text": result.summary}] if result.summary else None,
    }
    if encounter_id:
        body["encounter"] = {"reference": f"Encounter/{encounter_id}"}
    return RiskAssessment.model_validate(_prune(body))


def observation_build(
    result: ScoreResult, *, patient_id: str, encounter_id: str | None, identifier: str,
    derived_from: Sequence[str] | None = None,
) -> Observation:
    """Observation carrying the score (probability in % or rule points), derived from its Observation inputs.

    The stay it belongs to goes in `encounter` (the named one, else the Encounter among the inputs), never in
    `derivedFrom`, which R4 restricts to DERIVED_FROM_TYPES.
    """
    _require_scored(result)
    refs = list(result.basis if derived_from is None else derived_from)
    encounter_id = encounter_id or _encounter_of(refs)
    body: dict[str, Any] = {
        "resourceType": "Observation",
        "identifier": [_identifier(identifier)],
        "status": "final",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}],
        "code": _score_concept(result),
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": fhir_instant(result.as_of),
        "valueQuantity": _score_quantity(result),
        "method": _model_concept(result),
        "derivedFrom": [{"reference": ref} for ref in refs if _type_of(ref) in DERIVED_FROM_TYPES] or None,
        "note": [{"text": result.summary}] if result.summary else None,
    }
    if encounter_id:
        body["encounter"] = {"reference": f"Encounter/{encounter_id}"}
    return Observation.model_validate(_prune(body))


def _type_of(reference: str) -> str:
    """The resource type of a relative reference ("Observation/1" -> "Observation")."""
    return reference.split("/", 1)[0]


def _encounter_of(refs: Sequence[str]) -> str | None:
    """The id of the Encounter among the inputs (readmission scores one stay), if any."""
    return next((ref.split("/", 1)[1] for ref in refs if _type_of(ref) == "Encounter" and "/" in ref), None)


def provenance_build(
    result: ScoreResult, *, targets: Sequence[str], recorded: datetime, tag: str,
    entities: Sequence[str] | None = None, revises: Mapping[str, Any] | None = None,
) -> Provenance:
    """Provenance of the written resources: agent = the model version as a Device, entities = inputs, and the
    superseded RiskAssessment (`revises`, a Reference) as the entity with role "revision"."""
    if not targets:
        raise ValueError("A Provenance needs at least one target.")
    refs = list(result.basis if entities is None else entities)
    entity = [{"role": "source", "what": {"reference": ref}} for ref in refs]
    if revises:
        entity.append({"role": "revision", "what": dict(revises)})
    body: dict[str, Any] = {
        "resourceType": "Provenance",
        "meta": {"tag": [{"system": WRITEBACK_TAG_SYSTEM, "code": tag}]},
        "target": [{"reference": ref} for ref in targets],
        "occurredDateTime": fhir_instant(result.as_of),
        "recorded": fhir_instant(recorded),
        "activity": {"coding": [{"system": DATA_OPERATION, "code": "CREATE", "display": "create"}]},
        "agent": [{
            "type": {"coding": [{"system": PROVENANCE_PARTICIPANT, "code": "author", "display": "Author"}]},
            "who": device_reference(result),
        }],
        "entity": entity or None,
    }
    return Provenance.model_validate(_prune(body))


def device_reference(result: ScoreResult) -> dict[str, Any]:
    """A logical Reference to the Device that is this model version (no Device resource is needed)."""
    return {
        "type": "Device",
        "identifier": {"system": DEVICE_SYSTEM, "value": f"{result.model_name}@{result.model_version}"},
        "display": f"Stratify {result.title} model {result.model_version}",
    }


def rationale_text(result: ScoreResult, *, top: int = TOP_DRIVERS) -> str:
    """'Top drivers: ...' from the largest absolute contributions, or the rule total."""
    drivers = sorted(result.drivers, key=lambda d: abs(d.contribution), reverse=True)[:top]
    parts = [d.text for d in drivers]
    lead = f"{result.title}: {_format_points(result.points)} points. " if result.points is not None else ""
    return lead + ("Top drivers: " + "; ".join(parts) + "." if parts else "No individual driver recorded.")


def _require_scored(result: ScoreResult) -> None:
    if not result.scored:
        raise ValueError("A result that was not scored is never written back.")
    if result.probability is None and result.points is None:
        raise ValueError("A scored result needs a probability or points.")


def _identifier(value: str) -> dict[str, str]:
    return {"use": "official", "system": IDENTIFIER_SYSTEM, "value": value}


def _model_concept(result: ScoreResult) -> dict[str, Any]:
    coding = {"system": MODEL_SYSTEM, "version": result.model_version, "code": result.model_name,
              "display": result.title}
    return {"coding": [coding], "text": f"{result.title} ({result.kind}, version {result.model_version})"}


def _score_concept(result: ScoreResult) -> dict[str, Any]:
    codings = [{"system": SCORE_SYSTEM, "code": result.model_name, "display": result.title}]
    if result.model_name in STANDARD_SCORE_CODES:
        codings.append(STANDARD_SCORE_CODES[result.model_name])
    return {"coding": codings, "text": result.title}


def _prediction(result: ScoreResult) -> dict[str, Any]:
    outcome = OUTCOMES.get(result.model_name)
    prediction: dict[str, Any] = {
        "outcome": ({"coding": [{"system": SNOMED, "code": outcome.code, "display": outcome.display}],
                     "text": outcome.text} if outcome else {"text": result.title}),
        "rationale": rationale_text(result),
    }
    if result.probability is not None:
        prediction["probabilityDecimal"] = round(float(result.probability), 6)
    if result.band:
        prediction["qualitativeRisk"] = {
            "coding": [{"system": RISK_PROBABILITY, "code": result.band, "display": _BAND_DISPLAY[result.band]}]}
    if result.horizon_hours:
        prediction["whenRange"] = {"low": _duration(0, result.horizon_hours),
                                   "high": _duration(result.horizon_hours, result.horizon_hours)}
    return prediction


_BAND_DISPLAY = {"low": "Low likelihood", "moderate": "Moderate likelihood", "high": "High likelihood"}


def _duration(hours: float, horizon_hours: int) -> dict[str, Any]:
    """A UCUM time quantity; whole days when the horizon is a number of days (30 d, not 720 h)."""
    if horizon_hours >= 48 and horizon_hours % 24 == 0:
        return {"value": hours // 24 if hours else 0, "unit": "d", "system": UCUM, "code": "d"}
    return {"value": hours, "unit": "h", "system": UCUM, "code": "h"}


def _score_quantity(result: ScoreResult) -> dict[str, Any]:
    if result.probability is not None:
        return {"value": round(float(result.probability) * 100, 2), "unit": "%", "system": UCUM, "code": "%"}
    return {"value": result.points, "unit": "score", "system": UCUM, "code": "{score}"}


def _driver_extension(result: ScoreResult, driver: Driver) -> dict[str, Any]:
    """One driver: feature, label, contribution (log-odds for ML, points for rules), value, input age."""
    parts: list[dict[str, Any]] = [
        {"url": "feature", "valueString": driver.feature},
        {"url": "label", "valueString": driver.label},
        {"url": "contribution", "valueDecimal": round(float(driver.contribution), 6)},
        {"url": "scale", "valueCode": "log-odds" if result.kind == "ml" else "points"},
        {"url": "direction", "valueCode": driver.direction},
        {"url": "text", "valueString": driver.text},
    ]
    if driver.value is not None:
        parts.append({"url": "value", "valueQuantity": _ucum(driver.value, driver.unit)})
    if driver.age_hours is not None:
        parts.append({"url": "inputAge", "valueQuantity": {
            "value": round(float(driver.age_hours), 3), "unit": "h", "system": UCUM, "code": "h"}})
    input_time = result.data_times.get(driver.feature)
    if input_time is not None:
        parts.append({"url": "inputTime", "valueDateTime": fhir_instant(input_time)})
    return {"url": DRIVER_EXTENSION, "extension": parts}


def _ucum(value: float, unit: str) -> dict[str, Any]:
    quantity: dict[str, Any] = {"value": round(float(value), 6)}
    if unit:
        quantity.update({"unit": unit, "system": UCUM, "code": unit})
    return quantity


def _format_points(points: float) -> str:
    return str(int(points)) if float(points).is_integer() else f"{points:g}"


def _prune(value: Any) -> Any:
    """Drop None and empty lists recursively (FHIR forbids empty arrays and nulls)."""
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items() if v is not None and v != []}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


# --- AuditEvent (https://hl7.org/fhir/R4/auditevent.html) -------------------------------------------

AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
AUDIT_ACTION_SYSTEM = f"{CANONICAL}/CodeSystem/audit-action"
PURPOSE_OF_USE = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
PSEUDONYM_SYSTEM = f"{CANONICAL}/sid/patient-pseudonym"
AUDIT_CHAIN_EXTENSION = f"{CANONICAL}/StructureDefinition/audit-chain"
# AuditEvent.action (C/R/U/D/E) per our action names; "E" = execute (e.g. a scoring run).
_AUDIT_ACTION_CODE = {
    "smart_launch": "E", "sidebar_view": "R", "score": "E", "card_issued": "C", "feedback": "C",
    "write_back": "C", "admin_change": "U", "cds_auth_failure": "E", "fhir_access": "R",
    "break_glass": "R", "smart_purge": "D",
}
# AuditEvent.outcome: 0 success, 4 minor failure, 8 serious failure.
_AUDIT_OUTCOME = {"success": "0", "denied": "4", "failure": "8"}


def audit_event_build(record: Mapping[str, Any]) -> AuditEvent:
    """AuditEvent for one audit record given as a mapping of AuditRecord field values (plus `id`)."""
    action = str(record["action"])
    body: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": f"stratify-audit-{record['id']}",
        "type": {"system": AUDIT_EVENT_TYPE, "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": AUDIT_ACTION_SYSTEM, "code": action}],
        "action": _AUDIT_ACTION_CODE.get(action, "E"),
        "recorded": fhir_instant(record["recorded_at"]),
        "outcome": _AUDIT_OUTCOME.get(str(record.get("outcome", "success")), "8"),
        "purposeOfEvent": [{"coding": [{"system": PURPOSE_OF_USE, "code": record.get("purpose_of_use") or "TREAT"}]}],
        "agent": [{
            "who": {"display": record.get("actor") or "system"},
            "requestor": True,
        }],
        "source": {"observer": {"display": "Stratify"},
                   "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4",
                             "display": "Application Server"}]},
        "entity": _audit_entities(record) or None,
        "extension": [{"url": AUDIT_CHAIN_EXTENSION, "extension": [
            {"url": "prevHash", "valueString": record["prev_hash"]},
            {"url": "recordHash", "valueString": record["record_hash"]},
        ]}],
    }
    return AuditEvent.model_validate(_prune(body))


def _audit_entities(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = []
    if record.get("patient_pseudonym"):
        entities.append({
            "what": {"identifier": {"system": PSEUDONYM_SYSTEM, "value": record["patient_pseudonym"]}},
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1",
                     "display": "Person"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"},
        })
    details = [(k, record.get(k)) for k in ("model_name", "model_version", "spec_version", "input_digest",
                                            "request_id")]
    detail = [{"type": k, "valueString": str(v)} for k, v in details if v]
    for key in ("output_summary", "detail"):
        if record.get(key):
            detail.append({"type": key, "valueString": orjson.dumps(record[key], option=orjson.OPT_SORT_KEYS).decode()})
    if detail:
        entities.append({"what": {"display": "inference"}, "detail": detail})
    return entities
