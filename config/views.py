"""Project-level pages: the landing page."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    """What Stratify is, with links to the parts a new user wants first."""
    return render(request, "landing.html", {"sandbox": settings.SANDBOX_EHR_ENABLED})
