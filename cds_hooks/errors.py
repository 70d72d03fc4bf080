"""Errors of the CDS Hooks service (mapped to the project error shape by config.api_errors)."""

from config.errors import AuthenticationFailed, NotFound, PermissionDenied


class CdsAuthenticationFailed(AuthenticationFailed):
    """The CDS client JWT was missing or failed verification; `reason` goes to the audit record only."""

    def __init__(self, reason: str, *, iss: str = "") -> None:
        super().__init__()  # the generic message: never tell a caller why its token was refused
        self.reason = reason
        self.iss = iss


class CdsServiceNotFound(NotFound):
    """No such CDS service id (or it is disabled)."""

    code = "cds_service_not_found"
    default_message = "No such CDS service."


class IssuedCardNotFound(NotFound):
    """Feedback names a card this service never issued."""

    code = "card_not_found"
    default_message = "No card with this uuid was issued by this service."


class FhirServerNotRegistered(PermissionDenied):
    """The hook names a `fhirServer` that is not one of the calling client's registered FHIR bases."""

    code = "fhir_server_not_registered"
    default_message = "The fhirServer of this call is not registered for this CDS client."
