"""Parity: the real-time door's rescore from its online state equals the CDS door's score for the same patient at
the same as-of (value, band, drivers, inputs digest), as tests/integration/test_two_doors.py compares the CDS and
sidebar doors.

A real PhysioNet septic stay: its last 8 hours (labs and vitals) are not in the EHR when the state is built from
it; then the EHR charts them and its subscription notifies each Observation (the VitalEvents the subscription
client publishes), and the consumer folds them into the state incrementally. The CDS door then reads the whole
chart from the EHR over HTTP with the prefetch the EHR builds from the published templates.
"""

import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import transaction
from joserfc.jwk import ECKey

from audit.models import AuditRecord
from cds_hooks.selectors import cds_services
from cds_hooks.services.calls import call_parse, cds_service_score
from cds_hooks.trust import CdsCaller
from fhirapp.client import FhirClient
from realtime.consumer import Consumer
from realtime.events import VitalEvent
from realtime.models_read import vitals_models
from realtime.state import state_build
from realtime.stream import publish, stream_client
from sandbox_ehr.auth.services import access_token_issue
from sandbox_ehr.ehr.cds import hook_context, prefetch_build
from sandbox_ehr.fhir.loader import physionet
from sandbox_ehr.fhir.store import Write, resources_store
from scoring.types import ScoreResult
from tests.realtime.ward import ward_setup

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
HOOK = "patient-view"


def _store(resources: list[dict[str, Any]]) -> None:
    with transaction.atomic():
        resources_store([Write(r) for r in resources])


def _notified(observation: dict[str, Any], ward: dict[str, Any]) -> VitalEvent:
    """The event the EHR subscription publishes for a new Observation."""
    quantity = observation["valueQuantity"]
    return VitalEvent(
        source="ehr-subscription",
        source_event_id=f"Observation/{observation['id']}",
        registration_id=ward["registration"].pk,
        patient=observation["subject"]["reference"],
        event_time=observation["effectiveDateTime"],
        code=observation["code"]["coding"][0]["code"],
        value=quantity["value"],
        unit=quantity["code"],
    )


def _cds_door(ward: dict[str, Any], as_of: datetime) -> dict[str, ScoreResult]:
    """Each patient-view service called as the EHR calls it: its prefetch, built from its published templates."""
    context = hook_context(patient_id=ward["patient"], encounter_id=None)
    reader = access_token_issue(client_id="stratify-cds", scope="patient/*.rs", patient_id=ward["patient"])
    caller = CdsCaller(
        iss="https://ehr.example.org", sub="parity", jti="parity", tenant="", client_id=0, fhir_servers=(ward["iss"],)
    )
    results: dict[str, ScoreResult] = {}
    for service in (s for s in cds_services().values() if s.hook == HOOK):
        body = {
            "hook": HOOK,
            "hookInstance": f"parity-{service.id}",
            "fhirServer": ward["iss"],
            "fhirAuthorization": {
                "access_token": reader,
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "patient/*.rs",
                "subject": "stratify-cds",
            },
            "context": context,
            "prefetch": prefetch_build(service.prefetch, context, FhirClient(ward["iss"], reader)),
        }
        data, scored = cds_service_score(
            service, call_parse(service, body, caller), started=time.monotonic(), as_of=as_of
        )
        assert not data.unavailable, data.unavailable
        results.update({r.model_name: r for r in scored if r.model_status != "shadow"})
    return results


def _essence(result: ScoreResult) -> dict[str, Any]:
    return {
        "scored": result.scored,
        "probability": result.probability,
        "points": result.points,
        "band": result.band,
        "input_digest": result.input_digest,
        "missing": result.missing,
        "stale": result.stale,
        "version": result.model_version,
        "drivers": [(d.feature, d.value, round(d.contribution, 9), d.value_text, d.text) for d in result.drivers],
    }


def test_the_state_based_rescore_scores_as_the_cds_door(
    live_server: Any, settings: Any, device_key: ECKey, captured: list[dict[str, Any]]
) -> None:
    ward = ward_setup(live_server, settings, device_key, load=False)
    anchor = physionet.default_anchor()
    resources = physionet.stay_resources(ward["stay"], anchor)
    cut = (anchor - timedelta(hours=8)).isoformat().replace("+00:00", "Z")
    later = [r for r in resources if r["resourceType"] == "Observation" and r["effectiveDateTime"] > cut]
    _store([r for r in resources if r not in later])
    Consumer("parity").group_ensure()
    state_build(stream_client(), ward["registration"].pk, f"Patient/{ward['patient']}")
    assert len(later) > 10
    _store(later)  # the EHR charts the last 8 hours ...
    publish([_notified(o, ward) for o in later])  # ... and its subscription notifies each Observation
    consumer = Consumer("parity")
    while consumer.step(block_ms=0):
        pass
    assert AuditRecord.objects.filter(action="realtime_state").count() == 1  # maintained, never fetched again
    realtime = {c["results"][0].model_name: c["results"][0] for c in captured}
    assert set(realtime) == {m.name for m in vitals_models()} == {"sepsis", "news2", "qsofa"}
    as_of = realtime["sepsis"].as_of
    assert {r.as_of for r in realtime.values()} == {as_of}
    cds = _cds_door(ward, as_of)
    for name, result in realtime.items():
        assert result.scored, (name, result.reasons)
        assert _essence(result) == _essence(cds[name]), name
