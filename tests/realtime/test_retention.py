"""Retention of the real-time door on PostgreSQL and Redis: device vitals, rescores (with the events they took in)
and dead letters older than REALTIME_RETENTION_DAYS go, in batches and audited as counts, the recent ones stay;
the daily beat task and the command run it; appends keep the stream under REALTIME_STREAM_MAXLEN."""

import logging
import uuid
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditRecord
from realtime.consumer import backlog_check
from realtime.events import VitalEvent
from realtime.models import DeviceSource, DeviceVital, Rescore, RescoredEvent
from realtime.retention import PURGE_ACTION, purge_preview, realtime_purge
from realtime.stream import DEAD_LETTER, STREAM, publish, stream_client
from realtime.tasks import realtime_purge_task

pytestmark = [pytest.mark.integration, pytest.mark.django_db]
OLD, RECENT = timedelta(days=31), timedelta(days=29)  # either side of the default 30 days


def _vital(source: DeviceSource, number: int, age: timedelta) -> DeviceVital:
    received = timezone.now() - age
    return DeviceVital.objects.create(
        source=source,
        source_event_id=f"hr-{number}",
        registration=source.registration,
        patient="Patient/p1",
        event_time=received - timedelta(minutes=1),
        code="8867-4",
        value=80.0,
        unit="/min",
        received_at=received,
        batch=uuid.uuid4(),
        streamed=True,
    )


def _rescore(source: DeviceSource, number: int, age: timedelta) -> Rescore:
    scored = timezone.now() - age
    rescore = Rescore.objects.create(registration=source.registration, patient="Patient/p1", as_of=scored, events=1)
    Rescore.objects.filter(pk=rescore.pk).update(scored_at=scored)
    RescoredEvent.objects.create(rescore=rescore, source=source.name, source_event_id=f"hr-{number}")
    return rescore


def _dead_letter(age: timedelta) -> None:
    millis = int((timezone.now() - age).timestamp() * 1000)
    stream_client().xadd(DEAD_LETTER, {"event": b"{}", "reason": b"unreadable entry"}, id=f"{millis}-0")


def test_what_is_older_than_the_retention_goes_in_batches_audited_and_the_recent_stays(
    source: DeviceSource, stream: Any
) -> None:
    recent_vitals = [_vital(source, n, RECENT) for n in (1, 2)]
    for n in (3, 4, 5):
        _vital(source, n, OLD)
    recent_rescore = _rescore(source, 6, RECENT)
    for n in (7, 8, 9):
        _rescore(source, n, OLD)
    for age in (OLD + timedelta(days=3), OLD, RECENT):  # in time order, as a stream keeps them
        _dead_letter(age)
    expected = {"device_vitals": 3, "rescores": 3, "dead_letters": 2}
    assert purge_preview() == expected

    assert realtime_purge(batch=2) == expected  # two batches of each table

    assert list(DeviceVital.objects.order_by("pk")) == recent_vitals
    assert list(Rescore.objects.all()) == [recent_rescore]
    assert list(RescoredEvent.objects.values_list("source_event_id", flat=True)) == ["hr-6"]  # cascaded
    assert stream_client().xlen(DEAD_LETTER) == 1
    record = AuditRecord.objects.get(action=PURGE_ACTION)
    assert record.output_summary == expected and record.detail["retention_days"] == 30
    assert record.patient_pseudonym == ""  # counts, never a patient
    assert realtime_purge() == dict.fromkeys(expected, 0)
    assert AuditRecord.objects.filter(action=PURGE_ACTION).count() == 1  # nothing deleted, nothing recorded


def test_the_command_counts_or_purges_and_the_daily_beat_runs_the_task(source: DeviceSource, stream: Any) -> None:
    _vital(source, 1, OLD)
    out = StringIO()
    call_command("realtime_purge", "--dry-run", stdout=out)
    assert "would delete 1 device vitals" in out.getvalue() and DeviceVital.objects.count() == 1
    call_command("realtime_purge", stdout=out)
    assert "deleted 1 device vitals" in out.getvalue() and not DeviceVital.objects.exists()
    daily = [e for e in django_settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "realtime.purge"]
    assert len(daily) == 1 and str(daily[0]["schedule"]).startswith("<crontab: 15 3 *")
    assert realtime_purge_task.name == "realtime.purge"
    _vital(source, 2, OLD)
    assert realtime_purge_task.apply().get()["device_vitals"] == 1


def test_appends_keep_the_stream_under_its_cap_and_a_backlog_near_it_is_logged(
    settings: Any, stream: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.REALTIME_STREAM_MAXLEN = 10
    events = [
        VitalEvent(
            source="icu-monitors",
            source_event_id=f"hr-{n}",
            registration_id=1,
            patient="Patient/p1",
            event_time=timezone.now(),
            code="8867-4",
            value=80.0,
            unit="/min",
        )
        for n in range(300)
    ]
    publish(events)
    length = stream_client().xlen(STREAM)
    assert length < 300  # MAXLEN ~: whole nodes of entries (100 by default) go once the cap is passed
    with caplog.at_level(logging.ERROR, logger="realtime.consumer"):
        assert backlog_check(stream_client()) == length
    assert "over half of REALTIME_STREAM_MAXLEN" in caplog.text
