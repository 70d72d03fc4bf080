"""Errors raised when talking to a FHIR server; all map to 502 at the API edge."""

from config.errors import UpstreamFhirError, UpstreamUnavailable

__all__ = [
    "FhirDeadlineExceeded",
    "FhirRequestRejected",
    "FhirResponseInvalid",
    "FhirResponseTooLarge",
    "FhirServerError",
    "FhirServerNotRegistered",
    "UpstreamFhirError",
]


class FhirServerError(UpstreamUnavailable):
    """The server failed (5xx, 408, 429, unreachable): transient, worth a retry."""

    code = "upstream_fhir_error"


class FhirDeadlineExceeded(FhirServerError):
    """The request did not finish inside its deadline."""

    code = "upstream_fhir_timeout"
    default_message = "The FHIR server did not answer in time."


class FhirRequestRejected(UpstreamFhirError):
    """The server refused the request (4xx); retrying the same request will not help."""

    code = "upstream_fhir_rejected"
    default_message = "The FHIR server rejected the request."
    retryable = False

    @property
    def upstream_status(self) -> int | None:
        """HTTP status the FHIR server answered with."""
        status = self.extra.get("upstream_status")
        return int(status) if status is not None else None


class FhirResponseTooLarge(FhirRequestRejected):
    """The server's answer (one body, or a search's pages together) exceeds our size or page cap."""

    code = "upstream_fhir_too_large"
    default_message = "The FHIR server's answer is larger than Stratify accepts."


class FhirServerNotRegistered(FhirRequestRejected):
    """We only write to registered EHRs: this FHIR base is not registered (final, nothing was sent)."""

    code = "fhir_server_not_registered"
    default_message = "This FHIR server is not a registered EHR, so nothing is written to it."


class FhirResponseInvalid(UpstreamFhirError):
    """The server's answer is not shaped as FHIR says (e.g. a Bundle whose entries are not objects)."""

    code = "upstream_fhir_invalid"
    default_message = "The FHIR server's answer is malformed."
    retryable = False
