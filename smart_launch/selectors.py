"""Reads of smart_launch: registrations and the frame-ancestors they allow."""

from django.db.models import QuerySet

from smart_launch.models import EhrRegistration


def registrations_enabled() -> QuerySet[EhrRegistration]:
    """Enabled EHR registrations, by name (the standalone launch picker)."""
    return EhrRegistration.objects.filter(enabled=True).order_by("name")


def frame_ancestors_for(registration: EhrRegistration) -> str:
    """CSP frame-ancestors source list of one EHR: ourselves plus its registered origins."""
    return " ".join(["'self'", *registration.frame_ancestors.split()])


def frame_ancestors_all() -> str:
    """Before we know which EHR is calling (launch, callback): ourselves plus every enabled EHR's origins."""
    origins: list[str] = []
    for value in registrations_enabled().values_list("frame_ancestors", flat=True):
        origins += [o for o in value.split() if o not in origins]
    return " ".join(["'self'", *origins])


def registered_bases() -> list[str]:
    """The FHIR bases of enabled EHR registrations: bases `config.outbound` lets us reach."""
    return list(registrations_enabled().values_list("iss", flat=True))
