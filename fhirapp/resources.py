"""Pure FHIR R4 builders: RiskAssessment, Observation and Provenance (no I/O, no Django).

Every builder returns a `fhir.resources.R4B` object (R4B shares R4's shape for these resources) that
is also valid against the official R4 JSON schema (tests/data/fhir/schema/fhir.schema.json).
Spec: https://hl7.org/fhir/R4/riskassessment.html, observation.html, provenance.html, auditevent.html
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.provenance import Provenance
from fhir.resources.R4B.riskassessment import RiskAssessment

from config.fhir_json import CANONICAL, fhir_instant, prune

# Our canonical URLs (documented in README "Write-back and audit").
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
DERIVED_FROM_TYPES = frozenset(
    {"DocumentReference", "ImagingStudy", "Media", "QuestionnaireResponse", "Observation", "MolecularSequence"}
)


class AssessedDriver(Protocol):
    """One input's contribution (scoring's `Driver` has this shape)."""

    @property
    def feature(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def value(self) -> float | None: ...
    @property
    def unit(self) -> str: ...
    @property
    def age_hours(self) -> float | None: ...
    @property
    def contribution(self) -> float: ...
    @property
    def direction(self) -> str: ...
    @property
    def text(self) -> str: ...


class Assessment(Protocol):
    """What the builders read of a score (scoring's `ScoreResult` has this shape; fhirapp does not import
    scoring: the outcome coding and any standard score code travel with the result, from the catalogue)."""

    @property
    def model_name(self) -> str: ...
    @property
    def model_version(self) -> str: ...
    @property
    def model_status(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def as_of(self) -> datetime: ...
    @property
    def scored(self) -> bool: ...
    @property
    def probability(self) -> float | None: ...
    @property
    def points(self) -> float | None: ...
    @property
    def band(self) -> str | None: ...
    @property
    def summary(self) -> str: ...
    @property
    def horizon_hours(self) -> int | None: ...
    @property
    def drivers(self) -> Sequence[AssessedDriver]: ...
    @property
    def data_times(self) -> Mapping[str, datetime]: ...
    @property
    def basis(self) -> Sequence[str]: ...
    @property
    def input_digest(self) -> str: ...
    @property
    def outcome(self) -> Mapping[str, Any]: ...
    @property
    def score_code(self) -> Mapping[str, str] | None: ...


def risk_assessment_build(
    result: Assessment,
    *,
    patient_id: str,
    encounter_id: str | None,
    identifier: str,
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
    return RiskAssessment.model_validate(prune(body))


def observation_build(
    result: Assessment,
    *,
    patient_id: str,
    encounter_id: str | None,
    identifier: str,
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
    return Observation.model_validate(prune(body))


def _type_of(reference: str) -> str:
    """The resource type of a relative reference ("Observation/1" -> "Observation")."""
    return reference.split("/", 1)[0]


def _encounter_of(refs: Sequence[str]) -> str | None:
    """The id of the Encounter among the inputs (readmission scores one stay), if any."""
    return next((ref.split("/", 1)[1] for ref in refs if _type_of(ref) == "Encounter" and "/" in ref), None)


def provenance_build(
    result: Assessment,
    *,
    targets: Sequence[str],
    recorded: datetime,
    tag: str,
    entities: Sequence[str] | None = None,
    revises: Mapping[str, Any] | None = None,
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
        "agent": [
            {
                "type": {"coding": [{"system": PROVENANCE_PARTICIPANT, "code": "author", "display": "Author"}]},
                "who": device_reference(result),
            }
        ],
        "entity": entity or None,
    }
    return Provenance.model_validate(prune(body))


def device_reference(result: Assessment) -> dict[str, Any]:
    """A logical Reference to the Device that is this model version (no Device resource is needed)."""
    return {
        "type": "Device",
        "identifier": {"system": DEVICE_SYSTEM, "value": f"{result.model_name}@{result.model_version}"},
        "display": f"Stratify {result.title} model {result.model_version}",
    }


def rationale_text(result: Assessment, *, top: int = TOP_DRIVERS) -> str:
    """'Top drivers: ...' from the largest absolute contributions, or the rule total."""
    drivers = sorted(result.drivers, key=lambda d: abs(d.contribution), reverse=True)[:top]
    parts = [d.text for d in drivers]
    lead = f"{result.title}: {_format_points(result.points)} points. " if result.points is not None else ""
    return lead + ("Top drivers: " + "; ".join(parts) + "." if parts else "No individual driver recorded.")


def _require_scored(result: Assessment) -> None:
    if not result.scored:
        raise ValueError("A result that was not scored is never written back.")
    if result.probability is None and result.points is None:
        raise ValueError("A scored result needs a probability or points.")


def _identifier(value: str) -> dict[str, str]:
    return {"use": "official", "system": IDENTIFIER_SYSTEM, "value": value}


def _model_concept(result: Assessment) -> dict[str, Any]:
    coding = {
        "system": MODEL_SYSTEM,
        "version": result.model_version,
        "code": result.model_name,
        "display": result.title,
    }
    return {"coding": [coding], "text": f"{result.title} ({result.kind}, version {result.model_version})"}


def _score_concept(result: Assessment) -> dict[str, Any]:
    codings = [{"system": SCORE_SYSTEM, "code": result.model_name, "display": result.title}]
    if result.score_code:
        codings.append(dict(result.score_code))
    return {"coding": codings, "text": result.title}


def _prediction(result: Assessment) -> dict[str, Any]:
    prediction: dict[str, Any] = {
        "outcome": dict(result.outcome) if result.outcome else {"text": result.title},
        "rationale": rationale_text(result),
    }
    if result.probability is not None:
        prediction["probabilityDecimal"] = round(float(result.probability), 6)
    if result.band:
        prediction["qualitativeRisk"] = {
            "coding": [{"system": RISK_PROBABILITY, "code": result.band, "display": _BAND_DISPLAY[result.band]}]
        }
    if result.horizon_hours:
        prediction["whenRange"] = {
            "low": _duration(0, result.horizon_hours),
            "high": _duration(result.horizon_hours, result.horizon_hours),
        }
    return prediction


_BAND_DISPLAY = {"low": "Low likelihood", "moderate": "Moderate likelihood", "high": "High likelihood"}


def _duration(hours: float, horizon_hours: int) -> dict[str, Any]:
    """A UCUM time quantity; whole days when the horizon is a number of days (30 d, not 720 h)."""
    if horizon_hours >= 48 and horizon_hours % 24 == 0:
        return {"value": hours // 24 if hours else 0, "unit": "d", "system": UCUM, "code": "d"}
    return {"value": hours, "unit": "h", "system": UCUM, "code": "h"}


def _score_quantity(result: Assessment) -> dict[str, Any]:
    if result.probability is not None:
        return {"value": round(float(result.probability) * 100, 2), "unit": "%", "system": UCUM, "code": "%"}
    return {"value": result.points, "unit": "score", "system": UCUM, "code": "{score}"}


def _driver_extension(result: Assessment, driver: AssessedDriver) -> dict[str, Any]:
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
        parts.append(
            {
                "url": "inputAge",
                "valueQuantity": {"value": round(float(driver.age_hours), 3), "unit": "h", "system": UCUM, "code": "h"},
            }
        )
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
