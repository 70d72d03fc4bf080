"""The demo's "replay vitals" through the real-time door: each replayed hour is scored as of its own data, so the
alert the replay raises says its data are minutes old and when it was scored as of, not the hours between that
hour and the end of the stay (before, the whole replay was scored as of the moment it ran: an hour-7 alert read
"11 h ago", driven by vitals "not measured in the last 6 h"). Hours more than REALTIME_ALERT_MAX_LAG_MINUTES
before now are scored and recorded but raise no alert (an alert is about the patient now): the stay's last hour does.

The replay writes a real PhysioNet septic stay into the sandbox EHR hour by hour (`sandbox_ehr.ehr.replay`);
after each hour the Observations it wrote go to the stream as the EHR subscription's receiver publishes them
(`realtime.subscription_events.events_publish`), and the consumer folds them into the patient's online state
(built from the sandbox over HTTP) and rescores; the alert listener is the product's own.
"""

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from joserfc.jwk import ECKey

from alerts.models import Alert
from alerts.selectors import inbox_rows
from realtime.consumer import Consumer
from realtime.models import Rescore
from realtime.subscription_events import events_publish
from sandbox_ehr.ehr import replay
from scoring.presentation import age_text, clock_text
from tests.realtime.ward import ward_setup

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _deliver(ward: dict[str, Any], observations: list[dict[str, Any]], consumer: Consumer) -> None:
    events_publish(observations, registration_id=ward["registration"].pk, source="ehr-subscription")
    while consumer.step(block_ms=0):
        pass


def _newest(observations: list[dict[str, Any]]) -> datetime:
    return max(datetime.fromisoformat(o["effectiveDateTime"].replace("Z", "+00:00")) for o in observations)


def test_a_replayed_stay_is_scored_as_of_each_hour_and_its_alert_shows_minutes_of_data_age(
    live_server: Any, settings: Any, device_key: ECKey, stream: Any
) -> None:
    ward = ward_setup(live_server, settings, device_key, load=False)
    context, hours = replay.hours_of(ward["stay"])
    consumer = Consumer("replay")
    consumer.group_ensure()
    progress = replay.Replay(ward["patient"], len(hours))
    delivered: list[datetime] = []
    shown: list[dict[str, Any]] = []  # the inbox row of the first sepsis alert, as the inbox showed it then

    def between_hours(_seconds: float) -> None:  # the replay's pause: the hour it just wrote is delivered
        written = hours[progress.hours_done - 1]
        _deliver(ward, written, consumer)
        delivered.append(_newest(written))
        alert = Alert.objects.filter(model_name="sepsis").first()
        if alert is not None and not shown:
            shown.extend(r for r in inbox_rows(alert.unit) if r["id"] == alert.pk)

    replay.replay_run(progress, context, hours, sleep=between_hours)
    between_hours(0.0)
    assert not progress.error
    as_of = list(Rescore.objects.order_by("pk").values_list("as_of", flat=True))
    assert as_of == delivered  # each hour is scored as of its newest data, not as of the end of the replay
    alert = Alert.objects.filter(model_name="sepsis").earliest("created_at")
    # Hours more than REALTIME_ALERT_MAX_LAG_MINUTES before now are scored and recorded but raise no alert: the
    # stay's last hour (now) raises it, as of that hour.
    assert alert.as_of == delivered[-1]
    assert all(
        a.created_at - a.as_of <= timedelta(minutes=settings.REALTIME_ALERT_MAX_LAG_MINUTES)
        for a in Alert.objects.all()
    )
    assert [r["as_of_text"] for r in shown] == [clock_text(alert.as_of)]
    now = timezone.now()  # the data age is the newest input's age as the inbox is read: minutes, never hours
    [row] = [r for r in inbox_rows(alert.unit, now=now) if r["id"] == alert.pk]
    assert alert.data_time is not None and now - alert.data_time <= timedelta(minutes=70)
    assert row["data_age"] == age_text((now - alert.data_time).total_seconds() / 3600)
