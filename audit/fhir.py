"""The audit trail as FHIR R4 AuditEvent resources (https://hl7.org/fhir/R4/auditevent.html)."""

from collections.abc import Mapping
from typing import Any

import orjson
from fhir.resources.R4B.auditevent import AuditEvent

from config.fhir_json import CANONICAL, fhir_instant, prune

AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
AUDIT_ACTION_SYSTEM = f"{CANONICAL}/CodeSystem/audit-action"
PURPOSE_OF_USE = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
PSEUDONYM_SYSTEM = f"{CANONICAL}/sid/patient-pseudonym"
AUDIT_CHAIN_EXTENSION = f"{CANONICAL}/StructureDefinition/audit-chain"
# AuditEvent.action (C/R/U/D/E) per our action names; "E" = execute (e.g. a scoring run).
_AUDIT_ACTION_CODE = {
    "smart_launch": "E",
    "sidebar_view": "R",
    "score": "E",
    "card_issued": "C",
    "feedback": "C",
    "write_back": "C",
    "admin_change": "U",
    "cds_auth_failure": "E",
    "fhir_access": "R",
    "break_glass": "R",
    "smart_purge": "D",
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
        "agent": [
            {
                "who": {"display": record.get("actor") or "system"},
                "requestor": True,
            }
        ],
        "source": {
            "observer": {"display": "Stratify"},
            "type": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                    "code": "4",
                    "display": "Application Server",
                }
            ],
        },
        "entity": _audit_entities(record) or None,
        "extension": [
            {
                "url": AUDIT_CHAIN_EXTENSION,
                "extension": [
                    {"url": "prevHash", "valueString": record["prev_hash"]},
                    {"url": "recordHash", "valueString": record["record_hash"]},
                ],
            }
        ],
    }
    return AuditEvent.model_validate(prune(body))


def _audit_entities(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = []
    if record.get("patient_pseudonym"):
        entities.append(
            {
                "what": {"identifier": {"system": PSEUDONYM_SYSTEM, "value": record["patient_pseudonym"]}},
                "type": {
                    "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                    "code": "1",
                    "display": "Person",
                },
                "role": {
                    "system": "http://terminology.hl7.org/CodeSystem/object-role",
                    "code": "1",
                    "display": "Patient",
                },
            }
        )
    details = [
        (k, record.get(k)) for k in ("model_name", "model_version", "spec_version", "input_digest", "request_id")
    ]
    detail = [{"type": k, "valueString": str(v)} for k, v in details if v]
    for key in ("output_summary", "detail"):
        if record.get(key):
            detail.append({"type": key, "valueString": orjson.dumps(record[key], option=orjson.OPT_SORT_KEYS).decode()})
    if detail:
        entities.append({"what": {"display": "inference"}, "detail": detail})
    return entities
