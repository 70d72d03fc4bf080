"""CDS Hooks 2.0 objects a CDS Client sends us: the service request and its parts."""

from typing import Any

from pydantic import Field, field_validator, model_validator

from cds_hooks.schemas.common import NonEmptyStr, RequestModel


def _http_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("https://", "http://")):
        raise ValueError("must be an absolute http(s) URL")
    return value.rstrip("/") if value else value


class FhirAuthorization(RequestModel):
    """The bearer token for the CDS Client's FHIR server
    (https://cds-hooks.hl7.org/2.0/#passing-the-access-token-to-the-cds-service)."""

    access_token: NonEmptyStr
    token_type: NonEmptyStr
    expires_in: int
    scope: NonEmptyStr
    subject: NonEmptyStr
    patient: str | None = None  # 2.0: the patient the token is bound to, when patient-level

    @field_validator("token_type")
    @classmethod
    def _bearer(cls, value: str) -> str:
        if value.lower() != "bearer":
            raise ValueError("token_type must be Bearer")
        return "Bearer"


class CdsRequest(RequestModel):
    """A call to a CDS Service (https://cds-hooks.hl7.org/2.0/#calling-a-cds-service).

    `context` stays a plain object here; each hook's context model validates it
    (`HOOK_CONTEXTS`). `prefetch` values are raw FHIR JSON (or null), read without per-resource
    validation to keep the hot path fast (fhir.resources validation costs about 0.4 ms per Observation,
    180 ms for a 500-Observation prefetch; we validate what we write instead).
    """

    hook: NonEmptyStr
    hook_instance: NonEmptyStr = Field(alias="hookInstance")
    fhir_server: str | None = Field(default=None, alias="fhirServer")
    fhir_authorization: FhirAuthorization | None = Field(default=None, alias="fhirAuthorization")
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None
    extension: dict[str, Any] | None = None

    _url = field_validator("fhir_server")(_http_url)

    @model_validator(mode="after")
    def _server_with_authorization(self) -> "CdsRequest":
        if self.fhir_authorization is not None and not self.fhir_server:
            raise ValueError("fhirServer is required when fhirAuthorization is provided")
        return self


class PatientViewContext(RequestModel):
    """Context of `patient-view` (https://cds-hooks.org/hooks/patient-view/)."""

    user_id: NonEmptyStr = Field(alias="userId")
    patient_id: NonEmptyStr = Field(alias="patientId")
    encounter_id: NonEmptyStr | None = Field(default=None, alias="encounterId")


class EncounterDischargeContext(RequestModel):
    """Context of `encounter-discharge` (https://cds-hooks.org/hooks/encounter-discharge/)."""

    user_id: NonEmptyStr = Field(alias="userId")
    patient_id: NonEmptyStr = Field(alias="patientId")
    encounter_id: NonEmptyStr = Field(alias="encounterId")


class EncounterStartContext(EncounterDischargeContext):
    """Context of `encounter-start` (https://cds-hooks.org/hooks/encounter-start/)."""


class OrderSelectContext(RequestModel):
    """Context of `order-select` (https://cds-hooks.org/hooks/order-select/)."""

    user_id: NonEmptyStr = Field(alias="userId")
    patient_id: NonEmptyStr = Field(alias="patientId")
    encounter_id: NonEmptyStr | None = Field(default=None, alias="encounterId")
    selections: list[NonEmptyStr]
    draft_orders: dict[str, Any] = Field(alias="draftOrders")


class OrderSignContext(RequestModel):
    """Context of `order-sign` (https://cds-hooks.org/hooks/order-sign/)."""

    user_id: NonEmptyStr = Field(alias="userId")
    patient_id: NonEmptyStr = Field(alias="patientId")
    encounter_id: NonEmptyStr | None = Field(default=None, alias="encounterId")
    draft_orders: dict[str, Any] = Field(alias="draftOrders")


HookContext = (
    PatientViewContext | EncounterDischargeContext | EncounterStartContext | OrderSelectContext | OrderSignContext
)

HOOK_CONTEXTS: dict[str, type[HookContext]] = {
    "patient-view": PatientViewContext,
    "encounter-discharge": EncounterDischargeContext,
    "encounter-start": EncounterStartContext,
    "order-select": OrderSelectContext,
    "order-sign": OrderSignContext,
}
