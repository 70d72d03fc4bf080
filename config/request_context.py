"""The current request id, carried in a context variable for logs and error bodies."""

import contextvars

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def current_request_id() -> str:
    """Return the id of the request being handled, or '-' outside a request."""
    return request_id_var.get()
