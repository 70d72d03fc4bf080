"""The simulator as a CDS Hooks 2.0 client: discovery, prefetch, fhirAuthorization, signed POST.

https://cds-hooks.org/specification/current/ ("Discovery", "Calling a CDS Service", "Trusting CDS
Clients"): the JWT is signed with the sandbox ES384 key (kid in the header), iss = the simulator,
aud = the absolute service URL, 5-minute exp, a fresh jti. All calls go over real HTTP to
PUBLIC_BASE_URL; prefetch is fetched from the sandbox FHIR server through fhirapp.client.
"""

import uuid
from dataclasses import dataclass, field
from typing import Any

import requests

from fhirapp.client import FhirClient
from fhirapp.errors import FhirRequestRejected, UpstreamFhirError
from sandbox_ehr.auth import endpoints
from sandbox_ehr.auth.models import SigningKey
from sandbox_ehr.auth.services import access_token_issue
from sandbox_ehr.auth.setup import CDS_CLIENT_ID
from sandbox_ehr.auth.signing import jwt_sign
from sandbox_ehr.ehr.prefetch import template_fill

PATIENT_VIEW = "patient-view"
ENCOUNTER_DISCHARGE = "encounter-discharge"
FHIR_AUTH_SECONDS = 300
FHIR_AUTH_SCOPE = "patient/*.rs"
SIMULATOR_CLIENT_ID = "sandbox-ehr-simulator"
CALL_TIMEOUT = 15.0


@dataclass
class ServiceOutcome:
    """One service's answer: cards and system actions, or an error message for the clinician."""

    service_id: str
    title: str
    url: str
    cards: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    prefetched: list[str] = field(default_factory=list)


@dataclass
class HookOutcome:
    """The result of firing a hook: per-service outcomes, or a discovery error."""

    hook: str = PATIENT_VIEW
    services: list[ServiceOutcome] = field(default_factory=list)
    error: str = ""


def _error_message(response: requests.Response) -> str:
    try:
        body = response.json()
        detail = body.get("message") or body.get("error_description") or ""
    except ValueError:
        detail = ""
    return f"HTTP {response.status_code}{': ' + str(detail) if detail else ''}"


def services_discover() -> list[dict[str, Any]]:
    """GET {PUBLIC_BASE_URL}/cds-services; raises requests.RequestException or ValueError."""
    response = requests.get(
        f"{endpoints.public_base()}/cds-services", timeout=CALL_TIMEOUT, headers={"Accept": "application/json"}
    )
    if response.status_code != 200:
        raise ValueError(f"discovery answered {_error_message(response)}")
    services = response.json().get("services")
    if not isinstance(services, list):
        raise ValueError("discovery response has no services list")
    return services


def prefetch_build(templates: dict[str, str], context: dict[str, Any], client: FhirClient) -> dict[str, Any]:
    """Evaluate each template against the sandbox FHIR server; keys that fail are left out."""
    prefetch: dict[str, Any] = {}
    for key, template in (templates or {}).items():
        query = template_fill(template, context)
        if query is None:
            continue
        try:
            prefetch[key] = client.search_url(query)
        except FhirRequestRejected:
            continue  # the service can fetch it itself with fhirAuthorization
    return prefetch


def fhir_authorization(patient_id: str) -> dict[str, Any]:
    """A bearer token for the service, limited to this patient's compartment, read/search only."""
    token = access_token_issue(
        client_id=CDS_CLIENT_ID,
        scope=FHIR_AUTH_SCOPE,
        patient_id=patient_id,
        fhir_user=endpoints.practitioner_url(),
        expires_in=FHIR_AUTH_SECONDS,
    )
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": FHIR_AUTH_SECONDS,
        "scope": FHIR_AUTH_SCOPE,
        "subject": CDS_CLIENT_ID,
    }


def client_jwt(service_url: str) -> str:
    """The CDS client JWT for one call (ES384, kid header)."""
    return jwt_sign(
        SigningKey.Purpose.CDS_CLIENT,
        {"iss": endpoints.ehr_issuer(), "sub": SIMULATOR_CLIENT_ID, "aud": service_url},
        lifetime=300,
    )


def _call(hook: str, service: dict[str, Any], context: dict[str, Any], fhir: FhirClient) -> ServiceOutcome:
    service_id = str(service.get("id", ""))
    url = f"{endpoints.public_base()}/cds-services/{service_id}"
    outcome = ServiceOutcome(service_id=service_id, title=str(service.get("title") or service_id), url=url)
    try:
        prefetch = prefetch_build(service.get("prefetch") or {}, context, fhir)
    except UpstreamFhirError as exc:
        prefetch = {}
        outcome.error = f"Prefetch failed ({exc.message}); the service was called without it. "
    outcome.prefetched = sorted(prefetch)
    body: dict[str, Any] = {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": endpoints.fhir_base(),
        "fhirAuthorization": fhir_authorization(context["patientId"]),
        "context": context,
        "prefetch": prefetch,
    }
    try:
        response = requests.post(
            url,
            json=body,
            timeout=CALL_TIMEOUT,
            headers={"Authorization": f"Bearer {client_jwt(url)}", "Accept": "application/json"},
        )
    except requests.RequestException as exc:
        outcome.error += f"The service could not be reached ({type(exc).__name__})."
        return outcome
    if response.status_code != 200:
        outcome.error += f"The service answered {_error_message(response)}."
        return outcome
    try:
        cards = response.json().get("cards", [])
    except (ValueError, AttributeError):
        outcome.error += "The service's answer is not CDS Hooks JSON."
        return outcome
    outcome.cards = [c for c in cards if isinstance(c, dict)] if isinstance(cards, list) else []
    return outcome


def hook_context(*, patient_id: str, encounter_id: str | None) -> dict[str, Any]:
    """The context the simulator sends: the sandbox clinician, the patient and (when known) the encounter."""
    context = {"userId": f"Practitioner/{endpoints.SANDBOX_PRACTITIONER_ID}", "patientId": patient_id}
    if encounter_id:
        context["encounterId"] = encounter_id
    return context


def hook_fire(hook: str, context: dict[str, Any], *, fhir: FhirClient) -> HookOutcome:
    """Discover the services and call every one registered for `hook`, as an EHR does at that moment.

    `patient-view` when a chart opens, `encounter-discharge` when the clinician discharges; each service
    gets the prefetch its own templates ask for, a fhirAuthorization and a signed JWT.
    """
    try:
        services = [s for s in services_discover() if isinstance(s, dict) and s.get("hook") == hook]
    except (requests.RequestException, ValueError) as exc:
        return HookOutcome(hook=hook, error=f"CDS discovery at {endpoints.public_base()}/cds-services failed: {exc}")
    if not services:
        return HookOutcome(hook=hook, error=f"The CDS discovery endpoint lists no {hook} service.")
    return HookOutcome(hook=hook, services=[_call(hook, s, context, fhir) for s in services])
