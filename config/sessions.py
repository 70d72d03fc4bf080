"""Two session cookies: the sidebar's (framed by the EHR, cross-site) and everyone else's (admin, pages).

The sidebar lives in the EHR's iframe, a cross-site context, so its cookie must be SameSite=None (and
therefore Secure). Admin must never share such a cookie: a cross-site request would carry the admin
session. So requests under SIDEBAR_SESSION_COOKIE_PATH (/smart/: launch, callback, sidebar, sign-out) use
their own cookie (own name, path /smart/, SIDEBAR_SESSION_COOKIE_SAMESITE/SECURE), and every other path
uses Django's SESSION_COOKIE_* (SameSite=Lax). Each request reads and writes exactly one of them, so
neither cookie ever reaches the other's pages: the browser does not even send the sidebar's outside /smart/.
"""

import time
from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings
from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.http import http_date


@dataclass(frozen=True)
class SessionCookie:
    """Name and attributes of one session cookie."""

    name: str
    path: str
    samesite: Literal["Lax", "Strict", "None", False] | None
    secure: bool


def session_cookie_for(path: str) -> SessionCookie:
    """The sidebar's cookie under its path, Django's configured one everywhere else."""
    if path.startswith(settings.SIDEBAR_SESSION_COOKIE_PATH):
        return SessionCookie(
            settings.SIDEBAR_SESSION_COOKIE_NAME,
            settings.SIDEBAR_SESSION_COOKIE_PATH,
            _samesite(settings.SIDEBAR_SESSION_COOKIE_SAMESITE),
            settings.SIDEBAR_SESSION_COOKIE_SECURE,
        )
    return SessionCookie(
        settings.SESSION_COOKIE_NAME,
        settings.SESSION_COOKIE_PATH,
        _samesite(settings.SESSION_COOKIE_SAMESITE),
        settings.SESSION_COOKIE_SECURE,
    )


def _samesite(value: Any) -> Literal["Lax", "Strict", "None", False] | None:
    """A SameSite setting as Django's set_cookie takes it ("Lax" when the setting is not one it knows)."""
    return value if value in ("Lax", "Strict", "None", False, None) else "Lax"


class PathSessionMiddleware(SessionMiddleware):
    """Django's SessionMiddleware with the cookie chosen by the request's path (see the module docstring)."""

    def process_request(self, request: HttpRequest) -> None:
        """Open the session named by this path's cookie."""
        cookie = session_cookie_for(request.path)
        request.session_cookie = cookie  # type: ignore[attr-defined]
        request.session = self.SessionStore(request.COOKIES.get(cookie.name))

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """Save a modified session and set (or delete, when emptied) this path's cookie."""
        cookie: SessionCookie | None = getattr(request, "session_cookie", None)
        session: Any = getattr(request, "session", None)
        if cookie is None or session is None:
            return response
        if cookie.name in request.COOKIES and session.is_empty():
            response.delete_cookie(
                cookie.name, path=cookie.path, domain=settings.SESSION_COOKIE_DOMAIN, samesite=cookie.samesite
            )
            patch_vary_headers(response, ("Cookie",))
            return response
        if session.accessed:
            patch_vary_headers(response, ("Cookie",))
        if (
            (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)
            and not session.is_empty()
            and response.status_code < 500
        ):
            _save_and_set(session, response, cookie)
        return response


def _save_and_set(session: Any, response: HttpResponse, cookie: SessionCookie) -> None:
    max_age = None if session.get_expire_at_browser_close() else session.get_expiry_age()
    try:
        session.save()
    except UpdateError as exc:
        raise SessionInterrupted("The request's session was deleted before the request completed.") from exc
    response.set_cookie(
        cookie.name,
        session.session_key,
        max_age=max_age,
        expires=http_date(time.time() + max_age) if max_age is not None else None,
        domain=settings.SESSION_COOKIE_DOMAIN,
        path=cookie.path,
        secure=cookie.secure,
        httponly=settings.SESSION_COOKIE_HTTPONLY,
        samesite=cookie.samesite,
    )
    patch_vary_headers(response, ("Cookie",))
