"""The CapabilityStatement of the sandbox FHIR server (R4 capabilitystatement.html).

Security per SMART App Launch: the `oauth-uris` extension names the authorize and token endpoints
(http://hl7.org/fhir/smart-app-launch/conformance.html) and the service is coded SMART-on-FHIR
(http://terminology.hl7.org/CodeSystem/restful-security-service).
"""

from typing import Any

from sandbox_ehr.fhir.params import RESULT_PARAMS, SEARCH_PARAMS, include_values, revinclude_values
from sandbox_ehr.fhir.subscription_topics import TOPICS

_KIND_TYPE = {
    "token": "token",
    "reference": "reference",
    "string": "string",
    "date": "date",
    "patient": "reference",
    "status": "token",
}
# Types stored and readable (e.g. from the Synthea bundles) but not searchable.
STORED_ONLY_TYPES = (
    "AllergyIntolerance",
    "Basic",  # the subscription topics (sandbox_ehr/fhir/subscription_topics.py)
    "CarePlan",
    "Claim",
    "DiagnosticReport",
    "ExplanationOfBenefit",
    "Goal",
    "ImagingStudy",
    "Immunization",
    "Organization",
    "Practitioner",
)
_WRITE = [{"code": c} for c in ("read", "vread", "create", "update", "patch", "delete")]
# Subscriptions R5 Backport IG 1.1.0 (R4): the profile, the topics' canonical URLs and the operations.
_BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport"


def _subscription_entry() -> dict[str, Any]:
    """Topic-based subscriptions (https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/conformance.html)."""
    return {
        "type": "Subscription",
        "supportedProfile": [f"{_BACKPORT}/StructureDefinition/backport-subscription"],
        "extension": [
            {
                "url": f"{_BACKPORT}/StructureDefinition/capabilitystatement-subscriptiontopic-canonical",
                "valueCanonical": t.url,
            }
            for t in TOPICS
        ],
        "versioning": "versioned",
        "readHistory": True,
        "updateCreate": True,
        "interaction": list(_WRITE),
        "operation": [
            {"name": name, "definition": f"{_BACKPORT}/OperationDefinition/backport-subscription-{name}"}
            for name in ("status", "events")
        ],
    }


def _resource_entry(resource_type: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": resource_type,
        "versioning": "versioned",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalDelete": "not-supported",
        "interaction": list(_WRITE),
    }
    params = SEARCH_PARAMS.get(resource_type)
    if params:
        entry["interaction"].append({"code": "search-type"})
        entry["searchParam"] = [{"name": n, "type": _KIND_TYPE[p.kind]} for n, p in params.items()]
        entry["searchParam"] += [
            {"name": n, "type": {"_id": "token", "_lastUpdated": "date"}.get(n, "number")}
            for n in sorted(RESULT_PARAMS - {"_offset", "_sort", "_format"})
        ]
        if include_values(resource_type):
            entry["searchInclude"] = include_values(resource_type)
        entry["searchRevInclude"] = revinclude_values(resource_type)
    return entry


def capability_statement(*, base_url: str, auth_base_url: str, software_version: str) -> dict[str, Any]:
    """The server's CapabilityStatement; endpoints are absolute URLs on the host that was asked."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2025-01-01",
        "kind": "instance",
        "software": {"name": "Stratify sandbox FHIR server", "version": software_version},
        "implementation": {"description": "Development sandbox EHR (synthetic data only)", "url": base_url},
        "fhirVersion": "4.0.1",
        "instantiates": [f"{_BACKPORT}/CapabilityStatement/backport-subscription-server-r4"],
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ],
                            "text": "OAuth2 using SMART-on-FHIR profile",
                        }
                    ],
                    "extension": [
                        {
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                            "extension": [
                                {"url": "authorize", "valueUri": f"{auth_base_url}/authorize"},
                                {"url": "token", "valueUri": f"{auth_base_url}/token"},
                                {"url": "introspect", "valueUri": f"{auth_base_url}/introspect"},
                            ],
                        }
                    ],
                },
                "resource": [
                    *(_resource_entry(t) for t in sorted((*SEARCH_PARAMS, *STORED_ONLY_TYPES))),
                    _subscription_entry(),
                ],
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
            }
        ],
    }
