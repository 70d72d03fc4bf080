"""The demo's "replay vitals": a PhysioNet septic stay written hour by hour through the normal write path, so the
sandbox's subscriptions count an event per Observation; the chart's control starts it."""

import time
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from sandbox_ehr.ehr import replay
from sandbox_ehr.fhir.loader import physionet
from sandbox_ehr.fhir.models import FhirResource, SubscriptionEvent, SubscriptionState
from sandbox_ehr.fhir.store import Write, resources_store
from sandbox_ehr.fhir.subscription_topics import TOPICS

SET_A = Path(settings.SHARED_DATA) / "physionet2019" / "physionet2019_training_setA.csv.gz"


@pytest.fixture(scope="module")
def septic() -> physionet.Stay:
    if not SET_A.is_file():
        pytest.skip("PhysioNet set A is not downloaded")
    return next(s for s in physionet.stays_select(SET_A, 2) if s.septic)


@pytest.mark.django_db
def test_replay_writes_each_hour_and_fires_the_topic(septic: physionet.Stay) -> None:
    pid = physionet.patient_fhir_id(septic.patient)
    assert replay.stay_of(pid, SET_A.parent.parent) == septic
    assert replay.stay_of("someone-else") is None
    context, hours = replay.hours_of(septic)
    resources_store([Write(r) for r in [*context, *hours[0]]])  # loaded before: the replay starts afresh
    state = SubscriptionState.objects.create(
        resource_id="s1", topic=TOPICS[0].url, status="active", endpoint="https://x.example/hook"
    )
    slept: list[float] = []
    progress = replay.Replay(pid, len(hours))
    replay.replay_run(progress, context, hours, sleep=slept.append)
    assert (progress.hours_done, progress.running, progress.error) == (len(hours), False, "")
    assert slept == [replay.SECONDS_PER_HOUR] * (len(hours) - 1)
    observations = [o for hour in hours for o in hour]
    live = FhirResource.objects.live().filter(resource_type="Observation", patient_id=pid)
    assert live.count() == len(observations)
    vitals = [o for o in observations if o["category"][0]["coding"][0]["code"] == "vital-signs"]
    assert SubscriptionEvent.objects.filter(subscription=state).count() == len(vitals) > 0
    assert all(o["effectiveDateTime"] <= timezone.now().isoformat() for o in observations)


@pytest.mark.django_db(transaction=True)
def test_the_chart_control_starts_a_replay(
    client: Client, septic: physionet.Stay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay, "SECONDS_PER_HOUR", 0.0)
    monkeypatch.setattr(replay, "stay_of", lambda patient_id: septic if patient_id.endswith(septic.patient) else None)
    pid = physionet.patient_fhir_id(septic.patient)
    context, _hours = replay.hours_of(septic)
    resources_store([Write(r) for r in context])
    response = client.post(f"/sandbox/ehr/patients/{pid}/replay")
    assert response.status_code == 302
    deadline = time.monotonic() + 60
    while (status := replay.replay_status(pid)) is not None and status.running and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status is not None and status.hours_done == status.hours_total and not status.error
    assert client.post("/sandbox/ehr/patients/nobody/replay").status_code == 404
