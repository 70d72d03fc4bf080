"""Pages shown inside the EHR: the CSP that says who may frame them, and launch-flow error handling."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt

from audit.models import AuditRecord
from audit.services import audit_record_create
from config.api_errors import error_html_response
from config.errors import ApplicationError
from smart_launch import selectors

View = Callable[..., HttpResponse]


def framed(response: HttpResponse, *, ancestors: str, style_nonce: str = "") -> HttpResponse:
    """CSP for a page shown inside the EHR: who may frame it, and nothing loaded from elsewhere."""
    style = "'self'" + (f" 'nonce-{style_nonce}'" if style_nonce else "")
    response["Content-Security-Policy"] = (
        f"default-src 'self'; img-src 'self' data:; style-src {style}; script-src 'self'; "
        f"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}"
    )
    return response


def launch_page(action: str = AuditRecord.Action.SMART_LAUNCH) -> Callable[[View], View]:
    """Launch-flow views: failures become a framed error page (with what to do) and an audit record."""

    def decorate(view: View) -> View:
        @wraps(view)
        @xframe_options_exempt
        @never_cache
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                response = view(request, *args, **kwargs)
            except ApplicationError as exc:
                audit_record_create(
                    action=action,
                    outcome="failure",
                    detail={
                        "step": view.__name__,
                        "code": exc.code,
                        "message": exc.message,
                        "iss": str(request.GET.get("iss", ""))[:300],
                        "error": str(exc.extra.get("error", ""))[:64],
                    },
                )
                response = error_html_response(request, exc)
            if "Content-Security-Policy" not in response:
                framed(response, ancestors=selectors.frame_ancestors_all())
            return response

        return wrapped

    return decorate
