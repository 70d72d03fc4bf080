"""Our exception classes: each carries its HTTP status and a stable machine-readable code.

Services raise these (never DRF's); `config.api_errors` turns them into the one error shape.
Modelled on DRF's APIException (`status_code`, `default_code`) and the HackSoft styleguide.
"""

from typing import Any

from django.db import InterfaceError, OperationalError

# Our own database cannot be reached or dropped the connection: the same work may succeed in a moment.
DATABASE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)


class ApplicationError(Exception):
    """Base class: a message safe to show, a code and optional structured detail."""

    status_code: int = 500
    code: str = "error"
    default_message: str = "The request could not be completed."

    def __init__(self, message: str | None = None, *, extra: dict[str, Any] | None = None) -> None:
        self.message = message or self.default_message
        self.extra = extra or {}
        super().__init__(self.message)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by state, not by constructor arguments (subclasses add keyword-only ones).

        Celery pickles a task's exception for on_failure and the result backend; without this a
        subclass would arrive as its nearest picklable base class, with the wrong code.
        """
        return (_restore, (type(self), self.message, self.extra))


def _restore(cls: type[ApplicationError], message: str, extra: dict[str, Any]) -> ApplicationError:
    error = cls.__new__(cls)
    ApplicationError.__init__(error, message, extra=extra)
    return error


class ValidationFailed(ApplicationError):
    """The request body or parameters are invalid (400)."""

    status_code = 400
    code = "invalid"
    default_message = "The request is invalid."


class AuthenticationFailed(ApplicationError):
    """Missing or invalid credentials (401). Messages stay generic on purpose."""

    status_code = 401
    code = "not_authenticated"
    default_message = "Authentication failed."


class PermissionDenied(ApplicationError):
    """Authenticated but not allowed (403)."""

    status_code = 403
    code = "permission_denied"
    default_message = "You do not have permission to do this."


class NotFound(ApplicationError):
    """The addressed thing does not exist (404)."""

    status_code = 404
    code = "not_found"
    default_message = "Not found."


class MethodNotAllowed(ApplicationError):
    """The path exists but not for this HTTP method (405); `extra["allow"]` lists the methods it takes."""

    status_code = 405
    code = "method_not_allowed"
    default_message = "This HTTP method is not allowed here."


class CsrfFailed(ApplicationError):
    """A state-changing browser request without a valid CSRF token (403)."""

    status_code = 403
    code = "csrf_failed"
    default_message = "The request was refused: its CSRF token is missing or invalid. Reload the page and retry."


class Conflict(ApplicationError):
    """The request conflicts with the current state (409)."""

    status_code = 409
    code = "conflict"
    default_message = "The request conflicts with the current state."


class FhirDataUnavailable(ApplicationError):
    """Required FHIR data was neither prefetched nor fetchable (412, CDS Hooks 2.0 "HTTP Status Codes")."""

    status_code = 412
    code = "fhir_data_unavailable"
    default_message = "The FHIR data needed for this request is not available."


class UpstreamFhirError(ApplicationError):
    """The EHR's FHIR server failed or timed out (502); the upstream status goes in `extra`."""

    status_code = 502
    code = "upstream_fhir_error"
    default_message = "The FHIR server did not answer as expected."


class UpstreamUnavailable(UpstreamFhirError):
    """An EHR endpoint failed transiently (5xx, 429, timeout, unreachable): the same call may work later.

    Background work retries these (fhirapp.tasks); a 4xx about the request itself is never one.
    """

    retryable = True


class DatabaseUnavailable(ApplicationError):
    """Our own database cannot be reached or dropped the connection (503): the same request may work later."""

    status_code = 503
    code = "database_unavailable"
    default_message = "Stratify's database is unavailable; nothing was recorded. Retry in a moment."


class ServiceNotReady(ApplicationError):
    """A required component (model, store) is not ready (503)."""

    status_code = 503
    code = "not_ready"
    default_message = "The service is not ready."
