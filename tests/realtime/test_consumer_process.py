"""A real `manage.py realtime_consume` process, killed (SIGKILL) while it works and started again: no event is
lost and none is scored twice; SIGTERM stops it cleanly after the step in progress."""

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from joserfc.jwk import ECKey

from audit.models import AuditRecord
from realtime.models import DeviceVital, Rescore, RescoredEvent
from realtime.stream import DEAD_LETTER, GROUP, STREAM, stream_client
from tests.conftest import ROOT
from tests.realtime.ward import hr_event, ward_setup

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def start_consumer(child_process_env: dict[str, str]) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    env = {
        **child_process_env,
        "REALTIME_SCORE_LISTENERS": "",
        "REALTIME_CLAIM_IDLE_MS": "5000",
    }  # a slow step (a loaded machine) is not claimed away

    def start(name: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "manage.py", "realtime_consume", "--name", name], cwd=ROOT, env=env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=20)


def _wait_covered(count: int, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and RescoredEvent.objects.count() < count:
        time.sleep(0.2)
    assert RescoredEvent.objects.count() == count


def test_a_killed_consumer_restarted_loses_nothing_and_scores_nothing_twice(
    live_server: Any, settings: Any, device_key: ECKey, post: Any, start_consumer: Any
) -> None:
    ward = ward_setup(live_server, settings, device_key)
    first = start_consumer("ward-1")
    number = 0
    for _ in range(3):  # the first batch makes it build the state from the EHR: it is killed meanwhile
        events = [hr_event(ward, number + i, 90 + i, minutes_ago=60 - number - i) for i in range(5)]
        assert post({"events": events}).status_code == 200
        number += 5
        time.sleep(0.3)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=20)
    for _ in range(3):  # events go on arriving while no consumer runs
        assert post({"events": [hr_event(ward, number + i, 95, minutes_ago=30) for i in range(5)]}).status_code == 200
        number += 5
    second = start_consumer("ward-1")  # the same name: it takes its own pending entries first
    third = start_consumer("ward-2")  # and another one, which may claim what idles
    _wait_covered(number)
    assert DeviceVital.objects.count() == number
    covered = list(RescoredEvent.objects.values_list("source_event_id", flat=True))
    assert len(covered) == len(set(covered)) == number
    inferences = AuditRecord.objects.filter(action="score").exclude(detail__realtime_rescore=None)
    assert {r.detail["realtime_rescore"] for r in inferences} == set(Rescore.objects.values_list("pk", flat=True))
    deadline = time.monotonic() + 30
    while stream_client().xpending(STREAM, GROUP)["pending"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stream_client().xpending(STREAM, GROUP)["pending"] == 0 and stream_client().xlen(DEAD_LETTER) == 0
    for proc in (second, third):
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
