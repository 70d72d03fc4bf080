"""Errors of the sandbox authorization server: OAuth 2.0 errors carry their RFC 6749 `error` code."""

from config.errors import ApplicationError


class OAuthError(ApplicationError):
    """An OAuth error (RFC 6749 §5.2); `code` is the OAuth `error` value."""

    status_code = 400
    code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, status_code: int | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code


class InvalidClient(OAuthError):
    """Client authentication failed (401)."""

    status_code = 401
    code = "invalid_client"


class InvalidGrant(OAuthError):
    """The code, refresh token or verifier is invalid, expired, used or not this client's."""

    code = "invalid_grant"


class InvalidScope(OAuthError):
    """Nothing requested can be granted to this client."""

    code = "invalid_scope"


class AuthorizeRedirectError(OAuthError):
    """An authorize error reported to the client by redirect (RFC 6749 §4.1.2.1)."""

    def __init__(self, message: str, *, redirect_uri: str, state: str, code: str = "invalid_request") -> None:
        super().__init__(message, code=code)
        self.redirect_uri = redirect_uri
        self.state = state
