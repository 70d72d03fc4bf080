"""Sandbox EHR pages."""
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


def index(request: HttpRequest) -> HttpResponse:
    """The sandbox entry point sends people to the EHR simulator."""
    return redirect("/sandbox/ehr/")
