"""The device ingestion API on real PostgreSQL and Redis: storage, dedupe, order, all-or-nothing, auth, audit."""

from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from joserfc.jwk import ECKey

from audit.models import AuditRecord
from realtime.ingest import events_relay
from realtime.models import DeviceSource, DeviceVital
from realtime.stream import STREAM, stream_client
from tests.realtime.conftest import PATH, device_jwt, table_scans, vital

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def _streamed() -> list[dict[str, Any]]:
    entries: list[Any] = stream_client().xrange(STREAM)  # type: ignore[assignment]
    return [orjson.loads(f[b"event"]) for _, f in entries]


def test_a_batch_is_stored_audited_and_streamed_in_event_time_order(source: DeviceSource, post: Any) -> None:
    late = vital(source.registration_id, 1, minutes_ago=180)  # sent last, measured first
    events = [vital(source.registration_id, 2, minutes_ago=10), vital(source.registration_id, 3, minutes_ago=30), late]
    response = post({"events": events})
    assert response.status_code == 200, response.content
    assert response.json() | {"batch": ""} == {"batch": "", "received": 3, "stored": 3, "duplicates": 0}
    assert DeviceVital.objects.filter(source=source).count() == 3
    assert [e["source_event_id"] for e in _streamed()] == ["hr-1", "hr-3", "hr-2"]
    assert set(DeviceVital.objects.values_list("streamed", flat=True)) == {True}
    [record] = AuditRecord.objects.filter(action="vitals_ingest")
    assert record.actor == "device:icu-monitors" and record.detail["stored"] == 3 and record.patient_pseudonym


def test_a_request_finds_its_own_rows_by_an_index_never_by_scanning_the_table(source: DeviceSource, post: Any) -> None:
    """The table holds every event of the retention period (about 17 million a day at 200 events/s): each of a
    request's reads and writes of it must be answerable from an index (the plan tells, sequential scans off)."""
    with CaptureQueriesContext(connection) as queries:
        assert post({"events": [vital(source.registration_id, n) for n in range(3)]}).status_code == 200
    assert sum('"realtime_devicevital"' in q["sql"] for q in queries.captured_queries) == 3  # insert, read, mark
    assert table_scans(queries.captured_queries) == []


def test_a_resend_answers_200_with_counts_and_stores_nothing_twice(source: DeviceSource, post: Any) -> None:
    first = [vital(source.registration_id, n) for n in range(3)]
    assert post({"events": first}).status_code == 200
    again = post({"events": [*first, vital(source.registration_id, 9)]})
    assert again.status_code == 200
    assert again.json()["stored"] == 1 and again.json()["duplicates"] == 3
    assert DeviceVital.objects.count() == 4
    assert len(_streamed()) == 4  # the duplicates are not streamed again


def test_an_event_repeated_within_a_batch_is_stored_once(source: DeviceSource, post: Any) -> None:
    event = vital(source.registration_id, 1)
    body = post({"events": [event, event]}).json()
    assert (body["stored"], body["duplicates"]) == (1, 1)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"value": "high"}, "value"),
        ({"unit": "mm[Hg]"}, "unit"),
        ({"code": "85354-9"}, "unit"),
        ({"patient": "Observation/1"}, "patient"),
        ({"event_time": "2026-01-01T10:00:00"}, "event_time"),  # no time zone
        ({"source": "other-source"}, "source"),
        ({"registration_id": 999}, "registration_id"),
        ({"extra": 1}, "extra"),
    ],
)
def test_a_bad_event_refuses_the_whole_batch_naming_its_index_and_field(
    source: DeviceSource, post: Any, change: dict[str, Any], field: str
) -> None:
    events = [
        vital(source.registration_id, 1),
        vital(source.registration_id, 2, **change),
        vital(source.registration_id, 3),
    ]
    response = post({"events": events})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "events_invalid"
    [error] = body["extra"]["errors"]
    assert (error["index"], error["field"]) == (1, field)
    assert DeviceVital.objects.count() == 0 and _streamed() == []
    assert not AuditRecord.objects.filter(action="vitals_ingest").exists()


def test_every_bad_event_gets_its_own_error(source: DeviceSource, post: Any) -> None:
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    reg = source.registration_id
    events = [vital(reg, 1), vital(reg, 2, value="NaN"), vital(reg, 3, event_time=future), vital(reg, 1, value=1)]
    errors = post({"events": events}).json()["extra"]["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(1, "value"), (2, "event_time"), (3, "source_event_id")]


@pytest.mark.parametrize("body", [{"events": []}, {"event": []}, [1, 2]])
def test_a_body_without_events_is_refused(source: DeviceSource, post: Any, body: Any) -> None:
    response = post(body)
    assert response.status_code == 400 and response.json()["extra"]["errors"][0]["field"] == "events"


def test_malformed_json_is_a_400_in_the_error_shape(
    client: Any, source: DeviceSource, device_key: ECKey, settings: Any
) -> None:
    token = device_jwt(device_key, settings.PUBLIC_BASE_URL + PATH)
    response = client.post(PATH, "{", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 400 and set(response.json()) == {"message", "code", "extra"}


def _refused(response: Any, reason: str) -> None:
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert AuditRecord.objects.filter(action="device_auth_failure").latest("id").detail["reason"].startswith(reason)
    assert DeviceVital.objects.count() == 0


def test_missing_and_malformed_tokens_are_refused(source: DeviceSource, post: Any) -> None:
    body = {"events": [vital(source.registration_id, 1)]}
    _refused(post(body, authorization=""), "missing bearer token")
    _refused(post(body, authorization="Bearer not.a.jwt"), "malformed token")


def test_a_token_signed_with_another_key_is_refused(source: DeviceSource, post: Any, settings: Any) -> None:
    stranger = ECKey.generate_key("P-256", parameters={"kid": "monitor-1"})
    token = device_jwt(stranger, settings.PUBLIC_BASE_URL + PATH)
    _refused(post({"events": [vital(source.registration_id, 1)]}, authorization=f"Bearer {token}"), "bad signature")


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "https://elsewhere.example.org/realtime/v1/events"}, "claim refused: aud"),
        ({"sub": "someone-else"}, "claim refused: sub"),
        ({"exp": 1_000_000_000}, "claim refused: exp"),
        ({"exp": 4_000_000_000}, "token lifetime too long"),
        ({"jti": None}, "claim refused: jti"),
        ({"iss": "unknown-source", "sub": "unknown-source"}, "unknown or disabled source"),
        ({"header": {"alg": "HS256"}}, "algorithm not allowed"),
        ({"header": {"kid": "rotated-away"}}, "unknown kid"),
    ],
)
def test_tokens_that_fail_a_check_are_refused(
    source: DeviceSource, post: Any, device_key: ECKey, settings: Any, claims: dict[str, Any], reason: str
) -> None:
    aud = claims.pop("aud", settings.PUBLIC_BASE_URL + PATH)
    header = claims.pop("header", {})
    token = (
        _forged(device_key, aud, header, claims)
        if header.get("alg") == "HS256"
        else device_jwt(device_key, aud, header=header, **claims)
    )
    _refused(post({"events": [vital(source.registration_id, 1)]}, authorization=f"Bearer {token}"), reason)


def _forged(key: ECKey, aud: str, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A token whose header names an algorithm we never accept (the signature does not matter)."""
    import base64

    good = device_jwt(key, aud, **claims)
    head = base64.urlsafe_b64encode(orjson.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid})).rstrip(b"=").decode()
    return ".".join([head, *good.split(".")[1:]])


def test_a_replayed_token_and_a_disabled_source_are_refused(
    source: DeviceSource, post: Any, device_key: ECKey, settings: Any
) -> None:
    token = f"Bearer {device_jwt(device_key, settings.PUBLIC_BASE_URL + PATH)}"
    body = {"events": [vital(source.registration_id, 1)]}
    assert post(body, authorization=token).status_code == 200
    _refused_again = post({"events": [vital(source.registration_id, 2)]}, authorization=token)
    assert _refused_again.status_code == 401
    assert AuditRecord.objects.filter(action="device_auth_failure").latest("id").detail["reason"] == "replayed jti"
    DeviceSource.objects.filter(pk=source.pk).update(enabled=False)
    from realtime.auth import device_sources_forget

    device_sources_forget()
    assert post({"events": [vital(source.registration_id, 3)]}).status_code == 401


def test_the_relay_streams_stored_events_that_missed_the_stream(source: DeviceSource, post: Any, settings: Any) -> None:
    assert post({"events": [vital(source.registration_id, 1), vital(source.registration_id, 2)]}).status_code == 200
    stream_client().delete(STREAM)  # as if Redis had been unreachable after the commit
    DeviceVital.objects.update(streamed=False, received_at=timezone.now() - timedelta(minutes=5))
    settings.REALTIME_RELAY_AFTER_SECONDS = 60
    assert events_relay() == 2
    assert [e["source_event_id"] for e in _streamed()] == ["hr-1", "hr-2"]
    assert events_relay() == 0
