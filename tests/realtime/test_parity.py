"""Parity: the real-time door's rescore from its online state equals the CDS door's score for the same patient at
the same as-of (value, band, drivers, inputs digest), as tests/integration/test_two_doors.py compares the CDS and
sidebar doors.

A real PhysioNet septic stay: its last 8 hours (labs and vitals) are not in the EHR when the state is built from
it; then the EHR charts them and its subscription notifies each Observation (the VitalEvents the subscription
client publishes), and the consumer folds them into the state incrementally. Once more with twelve samples of each
vital sign an hour, folded in by two consumers in turns (each state read from a consumer's copy or whole). The CDS
door then reads the whole chart from the EHR over HTTP with the prefetch the EHR builds from the published
templates.
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


def _charted_every_five_minutes(observations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Eleven more samples of each vital sign, 5 to 55 minutes before it, with other values (a monitor charting
    every five minutes): every one of them is read by the windows' means, minima and maxima."""
    out = []
    for o in observations:
        if o["category"][0]["coding"][0]["code"] != "vital-signs":
            continue
        when = datetime.fromisoformat(o["effectiveDateTime"].replace("Z", "+00:00"))
        for k in range(1, 12):
            value = o["valueQuantity"]["value"] - (k % 3) * 0.5
            time_ = (when - timedelta(minutes=5 * k)).isoformat().replace("+00:00", "Z")
            sample = {**o, "id": f"{o['id']}-m{k}", "effectiveDateTime": time_}
            out.append({**sample, "valueQuantity": {**o["valueQuantity"], "value": value}})
    return out


def _rescored_as_the_cds_door(ward: dict[str, Any], captured: list[dict[str, Any]], consumers: list[Consumer]) -> None:
    """Build the state without the stay's last 8 hours, chart and notify them (five-minute samples too when the
    consumers are several), let the consumers take turns at the stream, then compare the last rescore of each
    model with the CDS door's score."""
    anchor = physionet.default_anchor()
    resources = physionet.stay_resources(ward["stay"], anchor)
    cut = (anchor - timedelta(hours=8)).isoformat().replace("+00:00", "Z")
    later = [r for r in resources if r["resourceType"] == "Observation" and r["effectiveDateTime"] > cut]
    _store([r for r in resources if r not in later])
    consumers[0].group_ensure()
    state_build(stream_client(), ward["registration"].pk, f"Patient/{ward['patient']}")
    assert len(later) > 10
    if len(consumers) > 1:
        later += _charted_every_five_minutes(later)
    _store(later)  # the EHR charts the last 8 hours ...
    publish([_notified(o, ward) for o in later])  # ... and its subscription notifies each Observation
    turn = 0
    while consumers[turn % len(consumers)].step(block_ms=0):
        turn += 1
    assert AuditRecord.objects.filter(action="realtime_state").count() == 1  # maintained, never fetched again
    realtime = {c["results"][0].model_name: c["results"][0] for c in captured}
    assert set(realtime) == {m.name for m in vitals_models()} == {"sepsis", "news2", "qsofa"}
    as_of = realtime["sepsis"].as_of
    assert {r.as_of for r in realtime.values()} == {as_of}
    cds = _cds_door(ward, as_of)
    for name, result in realtime.items():
        assert result.scored, (name, result.reasons)
        assert _essence(result) == _essence(cds[name]), name


def test_the_state_based_rescore_scores_as_the_cds_door(
    live_server: Any, settings: Any, device_key: ECKey, captured: list[dict[str, Any]]
) -> None:
    ward = ward_setup(live_server, settings, device_key, load=False)
    _rescored_as_the_cds_door(ward, captured, [Consumer("parity")])


def test_many_samples_an_hour_folded_in_by_two_consumers_in_turns_score_as_the_cds_door(
    live_server: Any, settings: Any, device_key: ECKey, captured: list[dict[str, Any]]
) -> None:
    """Twelve samples of each vital sign an hour, read 40 entries a step by two consumers: one's steps read the
    state through its copy, the other's find the state changed by the first and read it whole."""
    ward = ward_setup(live_server, settings, device_key, load=False)
    settings.REALTIME_READ_COUNT = 40
    first = Consumer("parity-a")
    _rescored_as_the_cds_door(ward, captured, [first, first, Consumer("parity-b")])
