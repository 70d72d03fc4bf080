"""Errors of the real-time door (mapped to the project error shape by config.api_errors)."""

from typing import Any

from config.errors import AuthenticationFailed, ServiceNotReady, ValidationFailed


class DeviceAuthenticationFailed(AuthenticationFailed):
    """A device source's JWT was missing or failed verification; `reason` goes to the audit record only."""

    def __init__(self, reason: str, *, source: str = "") -> None:
        super().__init__()  # the generic message: never tell a caller why its token was refused
        self.reason = reason
        self.source = source


class EventsInvalid(ValidationFailed):
    """One or more events of a batch are invalid: `extra["errors"]` names each one's index and field.
    Nothing of the batch is stored."""

    code = "events_invalid"

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(
            f"{len(errors)} event(s) of the batch are invalid; nothing was stored. Fix them and resend the batch.",
            extra={"errors": errors},
        )


class StateUnavailable(ServiceNotReady):
    """A patient's online state could not be built (the EHR failed or did not answer): retried later."""

    code = "realtime_state_unavailable"
