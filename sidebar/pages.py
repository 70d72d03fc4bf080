"""Template context of the sidebar page: the patient's snapshot (clinician's token), scores now and over the
stay, the panels. The snapshot is fetched by the same `snapshot_fetch` as the CDS services, from the plan of
what the hook's models read, so the sidebar and the cards score the same inputs."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from django.conf import settings

from audit.services import audit_records_create
from config.errors import UpstreamFhirError
from fhirapp.client import FhirClient
from fhirapp.errors import FhirRequestRejected
from fhirapp.fetch import fetch_plan, snapshot_fetch
from fhirapp.snapshot import PatientSnapshot
from scoring.selectors import hook_requirements, model_card_url
from scoring.trend import TrendScores, score_trend, trend_times
from sidebar.panels import ModelPanel, model_panel_build, patient_banner, stay_start
from sidebar.style import css_variables
from smart_launch import client, services
from smart_launch.errors import RELAUNCH, DataAccessDenied
from smart_launch.models import SmartSession

HOOK = "patient-view"
FETCH_SECONDS = 8.0


def sidebar_context(smart: SmartSession, *, now: datetime) -> dict[str, Any]:
    """Everything `sidebar/app.html` needs for the launched patient."""
    snapshot = sidebar_snapshot(smart, now=now)
    panels, unavailable, notice = _panels(smart, snapshot, now)
    return {
        "smart": smart,
        "panels": panels,
        "unavailable": unavailable,
        "scoring_notice": notice,
        "as_of": now,
        "banner": patient_banner(snapshot.patient or {}) if smart.need_patient_banner else None,
        "css_variables": _style(smart),
        "resource_count": len(snapshot.resources),
    }


def _style(smart: SmartSession) -> dict[str, Any]:
    """The EHR's SMART style as CSS variables ({} without a style URL)."""
    if not smart.smart_style_url:
        return {}
    return css_variables(client.style_fetch(smart.smart_style_url, iss=smart.registration.iss))


def sidebar_snapshot(smart: SmartSession, *, now: datetime) -> PatientSnapshot:
    """The launched patient's snapshot with the clinician's token; an EHR refusal says what to do."""
    fhir = FhirClient(smart.registration.iss, services.access_token_fresh(smart))
    context = {"patientId": smart.patient, "encounterId": smart.encounter}
    snapshot = snapshot_fetch(
        plan=fetch_plan(hook_requirements(HOOK)),
        patient_id=smart.patient,
        context=context,
        client=fhir,
        deadline=time.monotonic() + FETCH_SECONDS,
        as_of=now,
    )
    for exc in sorted(snapshot.errors.values(), key=_refusal_first):
        raise _explained(exc, smart)
    if snapshot.unavailable:
        raise UpstreamFhirError(
            "The EHR did not answer in time.",
            extra={
                "unavailable": snapshot.unavailable,
                "what_to_do": "Reload in a moment. If it keeps failing: " + RELAUNCH,
            },
        )
    return snapshot


def _refusal_first(exc: UpstreamFhirError) -> int:
    return 0 if isinstance(exc, FhirRequestRejected) and exc.upstream_status in (401, 403) else 1


def _explained(exc: UpstreamFhirError, smart: SmartSession) -> Exception:
    if isinstance(exc, FhirRequestRejected) and exc.upstream_status in (401, 403):
        return DataAccessDenied(
            "The EHR did not grant the app access to this patient's data.",
            what_to_do="Ask your EHR administrator to grant the app read access (scopes "
            f"{smart.registration.scopes}), then launch it again.",
            extra={"upstream_status": exc.upstream_status, "granted_scope": smart.scope},
        )
    exc.extra.setdefault("what_to_do", "Reload in a moment. If it keeps failing: " + RELAUNCH)
    return exc


def _scores(smart: SmartSession, snapshot: PatientSnapshot, now: datetime) -> TrendScores:
    times = trend_times(
        now,
        window_hours=settings.SMART_TREND_WINDOW_HOURS,
        step_hours=settings.SMART_TREND_STEP_HOURS,
        stay_start=stay_start(snapshot.resources, smart.encounter),
    )
    return score_trend(
        hook=HOOK,
        resources=snapshot.resources,
        now=now,
        times=times,
        patient_id=smart.patient,
        actor=smart.fhir_user,
        encounter_id=smart.encounter or None,
    )


def _panels(
    smart: SmartSession, snapshot: PatientSnapshot, now: datetime
) -> tuple[list[ModelPanel], list[dict[str, str]], str]:
    scores = _scores(smart, snapshot, now)
    # Every inference is audited: here, from the request thread, in one transaction (one chain lock).
    audit_records_create(scores.audit_entries)
    panels = [
        model_panel_build(
            r,
            scores.trend.get(r.model_name, []),
            patient_id=smart.patient,
            fhir_base=smart.registration.iss,
            encounter_id=smart.encounter or None,
        )
        for r in scores.now.visible
    ]
    missing = [
        {
            "title": u.title,
            "reason": u.reason,
            "card_url": model_card_url(u.name, u.version),
            "name": u.name,
            "version": u.version,
        }
        for u in scores.now.unavailable
    ]
    return panels, missing, "" if panels or missing else "No model is active for this view."
