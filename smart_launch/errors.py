"""Launch failures: each says what happened (message) and what to do (`extra["what_to_do"]`)."""

from typing import Any

from config.errors import (
    AuthenticationFailed,
    PermissionDenied,
    UpstreamFhirError,
    UpstreamUnavailable,
    ValidationFailed,
)

RELAUNCH = "Close this panel and open the app again from the patient's chart in your EHR."


def _extra(what_to_do: str, extra: dict[str, Any] | None) -> dict[str, Any]:
    return {"what_to_do": what_to_do, **(extra or {})}


class LaunchInvalid(ValidationFailed):
    """The launch request itself is malformed (no iss, bad parameters)."""

    code = "smart_launch_invalid"

    def __init__(self, message: str, *, what_to_do: str = RELAUNCH, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message, extra=_extra(what_to_do, extra))


class EhrNotRegistered(PermissionDenied):
    """The `iss` is unknown or its registration is disabled."""

    code = "smart_ehr_not_registered"

    def __init__(self, message: str, *, what_to_do: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message, extra=_extra(what_to_do, extra))


class AuthorizationDenied(PermissionDenied):
    """The EHR's authorization server answered with an error (access_denied, invalid_scope, ...)."""

    code = "smart_authorization_denied"

    def __init__(self, message: str, *, what_to_do: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message, extra=_extra(what_to_do, extra))


class LaunchStateInvalid(AuthenticationFailed):
    """The `state` is missing, unknown, replayed, expired or not bound to this browser."""

    code = "smart_state_invalid"

    def __init__(self, message: str, *, what_to_do: str = RELAUNCH, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message, extra=_extra(what_to_do, extra))


class SessionExpired(AuthenticationFailed):
    """No launched session in this browser, or its token expired and could not be refreshed."""

    code = "smart_session_expired"

    def __init__(self, message: str, *, what_to_do: str = RELAUNCH, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message, extra=_extra(what_to_do, extra))


class TokenExchangeFailed(UpstreamFhirError):
    """The EHR's token endpoint refused or failed the code exchange, or its id_token did not verify."""

    code = "smart_token_exchange_failed"

    def __init__(self, message: str, *, what_to_do: str = RELAUNCH, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message, extra=_extra(what_to_do, extra))


class TokenEndpointUnavailable(TokenExchangeFailed, UpstreamUnavailable):
    """The token endpoint failed transiently (5xx, 408, 429, timeout, unreachable): a later try may work."""


class DiscoveryFailed(UpstreamFhirError):
    """Neither `.well-known/smart-configuration` nor the CapabilityStatement told us the OAuth endpoints."""

    code = "smart_discovery_failed"

    def __init__(self, message: str, *, what_to_do: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message, extra=_extra(what_to_do, extra))


class DiscoveryUnavailable(DiscoveryFailed, UpstreamUnavailable):
    """Discovery failed because the EHR failed transiently (5xx, 408, 429, timeout): a later try may work."""


class IdTokenInvalid(AuthenticationFailed):
    """The id_token's signature or claims (iss, aud, exp, nonce) did not verify."""

    code = "smart_id_token_invalid"

    def __init__(self, message: str, *, what_to_do: str = RELAUNCH, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message, extra=_extra(what_to_do, extra))


class DataAccessDenied(PermissionDenied):
    """The EHR's FHIR server refused the clinician's token for this patient's data (401/403)."""

    code = "smart_data_access_denied"

    def __init__(self, message: str, *, what_to_do: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message, extra=_extra(what_to_do, extra))
