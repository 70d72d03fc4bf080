"""Errors of the scoring engine (mapped to HTTP by config/api_errors.py)."""

from config.errors import NotFound, ServiceNotReady


class ModelNotFound(NotFound):
    """No such model, or no registered version of it (404)."""

    code = "model_not_found"
    default_message = "No such model."


class ModelNotReady(ServiceNotReady):
    """The model is registered but cannot score (artifact missing, checksum or spec mismatch) (503)."""

    code = "model_not_ready"
    default_message = "The model is not ready."
