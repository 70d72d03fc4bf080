"""Scope and patient-compartment enforcement for the sandbox FHIR server (grants from sandbox_ehr.auth).

`grant` is the `AccessGrant` of the sandbox authorization server (`sandbox_ehr.auth.access.authenticate_request`); None
means a trusted in-process caller (the data loader), which no check applies to.
"""

from typing import Protocol

from config.errors import PermissionDenied
from sandbox_ehr.fhir.errors import OutsideCompartment

# Types outside every patient compartment (R4 compartmentdefinition-patient lists none of them):
# a patient-level token may read them when its scopes name the type.
SHARED_TYPES = frozenset(
    {
        "Organization",
        "Practitioner",
        "PractitionerRole",
        "Location",
        "Medication",
        "Substance",
        "HealthcareService",
        "Endpoint",
    }
)


class Grant(Protocol):
    """What the FHIR server needs from an access grant (its AccessGrant, docs/architecture.md#sandbox-access-grants)."""

    client_id: str
    patient_id: str | None

    def allows(self, resource_type: str, interaction: str) -> bool:
        """Whether the token's scopes allow `interaction` (read|search|create|update) on the type."""
        ...

    def patient_restricted(self, resource_type: str, interaction: str) -> bool:
        """Whether only patient-level scopes allow it (so the patient compartment applies)."""
        ...


def scope_require(grant: Grant | None, resource_type: str, interaction: str) -> None:
    """403 unless the token's scopes allow the interaction on the type."""
    if grant is not None and not grant.allows(resource_type, interaction):
        raise PermissionDenied(
            f"The access token's scopes do not allow '{interaction}' on {resource_type}.",
            extra={"resource_type": resource_type, "interaction": interaction},
        )


def compartment(grant: Grant | None, resource_type: str, interaction: str) -> str | None:
    """The patient id access is restricted to, or None for user/system-level access."""
    if grant is None or not grant.patient_id or not grant.patient_restricted(resource_type, interaction):
        return None
    return grant.patient_id


def readable(grant: Grant | None, resource_type: str, patient_id: str) -> bool:
    """Whether the token may read a resource of this type and compartment (filters `_include`)."""
    if grant is not None and not grant.allows(resource_type, "read"):
        return False
    try:
        compartment_require(grant, resource_type, "read", patient_id)
    except OutsideCompartment:
        return False
    return True


def compartment_require(grant: Grant | None, resource_type: str, interaction: str, patient_id: str) -> None:
    """403 when a patient-level token touches a resource outside its patient's compartment."""
    patient = compartment(grant, resource_type, interaction)
    if patient is None or patient_id == patient:
        return
    if interaction == "read" and not patient_id and resource_type in SHARED_TYPES:
        return
    raise OutsideCompartment()
