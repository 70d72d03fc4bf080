"""Errors of the sandbox FHIR server; each names the OperationOutcome issue code it maps to."""

from config.errors import ApplicationError, NotFound, PermissionDenied, ValidationFailed


class InvalidResource(ValidationFailed):
    """A resource failed R4B validation or a structural rule (400, issue `invalid`)."""

    code = "invalid_resource"
    issue_code = "invalid"


class UnsupportedSearch(ValidationFailed):
    """A search parameter, modifier, prefix or type this server does not support (400)."""

    code = "unsupported_search"
    issue_code = "not-supported"
    default_message = "The search is not supported."


class ResourceNotFound(NotFound):
    """No such resource or version (404)."""

    code = "resource_not_found"
    issue_code = "not-found"


class ResourceGone(ApplicationError):
    """The resource (or the version asked for) was deleted (410, FHIR http.html#read)."""

    status_code = 410
    code = "resource_deleted"
    issue_code = "deleted"
    default_message = "The resource was deleted."


class OutsideCompartment(PermissionDenied):
    """The token's patient compartment does not hold this resource (403)."""

    code = "outside_patient_compartment"
    issue_code = "forbidden"
    default_message = "The resource is outside the patient compartment of the access token."


class PreconditionFailed(ApplicationError):
    """A conditional request matched several resources or a version check failed (412)."""

    status_code = 412
    code = "precondition_failed"
    issue_code = "multiple-matches"
    default_message = "The precondition of the request failed."


class VersionConflict(ApplicationError):
    """If-Match named a version that is not the current one (412, FHIR http.html#concurrency)."""

    status_code = 412
    code = "version_conflict"
    issue_code = "conflict"
    default_message = "The resource has changed: If-Match does not name the current version."


class UnsupportedInteraction(ValidationFailed):
    """An interaction or Bundle entry method this server does not implement (400, `not-supported`)."""

    code = "unsupported_interaction"
    issue_code = "not-supported"
    default_message = "This interaction is not supported."


class MethodNotAllowed(ApplicationError):
    """The HTTP method is not supported on this FHIR endpoint (405)."""

    status_code = 405
    code = "method_not_allowed"
    issue_code = "not-supported"
    default_message = "This HTTP method is not supported here."


class UnsupportedMediaType(ApplicationError):
    """The request body's Content-Type is not one this interaction takes (415)."""

    status_code = 415
    code = "unsupported_media_type"
    issue_code = "not-supported"
    default_message = "The Content-Type of the body is not supported here."


class PatchFailed(ApplicationError):
    """A well-formed JSON Patch that cannot be applied: a missing path, a failed `test` (422, R4 http.html#patch)."""

    status_code = 422
    code = "patch_failed"
    issue_code = "processing"
    default_message = "The patch could not be applied."


class SearchTooCostly(ValidationFailed):
    """`_include`/`_revinclude` would add more resources, or iterate more rounds, than the server allows (400)."""

    code = "search_too_costly"
    issue_code = "too-costly"
    default_message = "The search would include too many resources."
