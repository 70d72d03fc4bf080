"""Template context of the sidebar page: fetch with the clinician's token, score, build the panels."""
from datetime import datetime
from typing import Any

from config.errors import UpstreamFhirError
from fhirapp.errors import FhirRequestRejected
from fhirapp.services.audit import audit_records_create
from scoring.selectors import model_card_url
from smart_launch import client, services, sidebar
from smart_launch.errors import RELAUNCH, DataAccessDenied
from smart_launch.models import SmartSession
from smart_launch.style import css_variables


def sidebar_context(smart: SmartSession, *, now: datetime) -> dict[str, Any]:
    """Everything `smart_launch/app.html` needs for the launched patient."""
    token = services.access_token_fresh(smart)
    try:
        data = sidebar.patient_data_fetch(fhir_base=smart.registration.iss, token=token, patient_id=smart.patient,
                                          encounter_id=smart.encounter, now=now)
    except FhirRequestRejected as exc:
        if exc.upstream_status in (401, 403):
            raise DataAccessDenied(
                "The EHR did not grant the app access to this patient's data.",
                what_to_do="Ask your EHR administrator to grant the app read access (scopes "
                           f"{smart.registration.scopes}), then launch it again.",
                extra={"upstream_status": exc.upstream_status, "granted_scope": smart.scope}) from exc
        exc.extra.setdefault("what_to_do", "Reload in a moment. If it keeps failing: " + RELAUNCH)
        raise
    except UpstreamFhirError as exc:
        exc.extra.setdefault("what_to_do", "Reload in a moment. If it keeps failing: " + RELAUNCH)
        raise
    panels, unavailable, notice = _panels(smart, data, now)
    return {
        "smart": smart, "panels": panels, "unavailable": unavailable, "scoring_notice": notice, "as_of": now,
        "banner": sidebar.patient_banner(data.patient) if smart.need_patient_banner else None,
        "css_variables": css_variables(client.style_fetch(smart.smart_style_url)) if smart.smart_style_url else {},
        "resource_count": len(data.resources),
    }


def _panels(smart: SmartSession, data: sidebar.PatientData,
            now: datetime) -> tuple[list[sidebar.ModelPanel], list[dict[str, str]], str]:
    scores = sidebar.scores_now_and_trend(
        resources=data.resources, patient_id=smart.patient, now=now,
        stay_start=sidebar.stay_start(data.resources, smart.encounter), actor=smart.fhir_user,
        encounter_id=smart.encounter or None)
    # Every inference is audited: here, from the request thread, in one transaction (one chain lock).
    audit_records_create(scores.audit_entries)
    panels = [sidebar.model_panel_build(r, scores.trend.get(r.model_name, []), patient_id=smart.patient,
                                        fhir_base=smart.registration.iss, encounter_id=smart.encounter or None)
              for r in scores.current]
    missing = [{"title": u.title, "reason": u.reason, "card_url": model_card_url(u.name, u.version),
                "name": u.name, "version": u.version} for u in scores.unavailable]
    return panels, missing, "" if panels or missing else "No model is active for this view."
