"""EHR launch from the simulator: bind a launch value to the chart's context and build the app URL."""

from urllib.parse import urlencode, urlsplit

from config.errors import ValidationFailed
from sandbox_ehr.auth import endpoints
from sandbox_ehr.auth.services import launch_create


def default_app_url() -> str:
    """Stratify's SMART launch URL (the "Launch Stratify" button)."""
    return f"{endpoints.public_base()}/smart/launch"


def _check_app_url(url: str) -> None:
    # The sandbox launches only the product it ships with: no open redirect to other origins.
    base = urlsplit(endpoints.public_base())
    target = urlsplit(url)
    if (target.scheme, target.netloc) != (base.scheme, base.netloc):
        raise ValidationFailed(
            "The sandbox EHR only launches apps served from PUBLIC_BASE_URL.",
            extra={"hint": f"Expected a URL under {endpoints.public_base()}."},
        )


def ehr_launch_url(*, app_url: str, patient_id: str, encounter_id: str | None, app_context: str = "") -> str:
    """A fresh launch value bound to patient/encounter/appContext, in the app's launch URL."""
    _check_app_url(app_url)
    if len(app_context) > 4000:
        raise ValidationFailed("appContext is too long.")
    launch = launch_create(patient_id=patient_id, encounter_id=encounter_id, app_context=app_context)
    query = urlencode({"iss": endpoints.fhir_base(), "launch": launch})
    return f"{app_url}{'&' if '?' in app_url else '?'}{query}"
