"""Retention of SMART launch data: spent requests and dead sessions are purged, audited, hourly; live ones kept."""

import uuid
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditRecord
from audit.services import canonical_json, record_digest
from config.keys import encrypt_text
from config.tasks import smart_cleanup
from smart_launch import retention
from smart_launch.models import AuthorizationRequest, EhrRegistration, SmartSession
from smart_launch.retention import purge_expired, purge_preview

pytestmark = pytest.mark.django_db
PATIENT = "patient-retention-1"


def _request(registration: EhrRegistration, *, age: timedelta, used: bool = False) -> AuthorizationRequest:
    created = timezone.now() - age
    return AuthorizationRequest.objects.create(
        state_digest=uuid.uuid4().hex,
        binding_digest="b",
        registration=registration,
        code_verifier_encrypted=encrypt_text("verifier"),
        nonce="n",
        launch_kind="ehr",
        created_at=created,
        used_at=created if used else None,
    )


def _session(registration: EhrRegistration, *, expired_for: timedelta, refreshable: bool) -> SmartSession:
    return SmartSession.objects.create(
        registration=registration,
        binding_digest="b",
        access_token_encrypted=encrypt_text("access-secret"),
        refresh_token_encrypted=encrypt_text("refresh-secret") if refreshable else "",
        id_token_encrypted=encrypt_text("id-token"),
        patient=PATIENT,
        expires_at=timezone.now() - expired_for,
    )


def _exists(row: Any) -> bool:
    return type(row).objects.filter(pk=row.pk).exists()


class AuthorizationRequestRetentionTests:
    def test_used_and_expired_requests_go_fresh_ones_stay(self, registration: EhrRegistration) -> None:
        ttl = timedelta(seconds=settings.SMART_STATE_TTL_SECONDS)
        used = _request(registration, age=timedelta(seconds=5), used=True)
        expired = _request(registration, age=ttl + timedelta(seconds=1))
        fresh = _request(registration, age=ttl - timedelta(seconds=30))
        assert purge_expired()["authorization_requests"] == 2
        assert not _exists(used) and not _exists(expired) and _exists(fresh)

    def test_state_lifetime_is_the_launch_setting(self, registration: EhrRegistration, settings: Any) -> None:
        settings.SMART_STATE_TTL_SECONDS = 60
        request = _request(registration, age=timedelta(seconds=120))
        assert purge_expired()["authorization_requests"] == 1
        assert not _exists(request)


class SessionRetentionTests:
    def test_sessions_past_use_go_live_and_refreshable_ones_stay(self, registration: EhrRegistration) -> None:
        grace = timedelta(hours=settings.SMART_SESSION_RETENTION_HOURS)
        unrefreshable = _session(registration, expired_for=timedelta(minutes=1), refreshable=False)
        beyond_grace = _session(registration, expired_for=grace + timedelta(minutes=1), refreshable=True)
        within_grace = _session(registration, expired_for=grace - timedelta(minutes=1), refreshable=True)
        live = _session(registration, expired_for=-timedelta(minutes=5), refreshable=False)
        assert purge_expired()["smart_sessions"] == 2
        assert not _exists(unrefreshable) and not _exists(beyond_grace)
        assert _exists(within_grace) and _exists(live)

    def test_grace_is_the_retention_setting(self, registration: EhrRegistration, settings: Any) -> None:
        settings.SMART_SESSION_RETENTION_HOURS = 1
        session = _session(registration, expired_for=timedelta(hours=2), refreshable=True)
        assert purge_expired() == {"authorization_requests": 0, "smart_sessions": 1}
        assert not _exists(session)

    def test_default_grace_is_24_hours(self) -> None:
        assert settings.SMART_SESSION_RETENTION_HOURS == 24


def _mixed(registration: EhrRegistration) -> list[Any]:
    return [
        _request(registration, age=timedelta(seconds=5), used=True),
        _session(registration, expired_for=timedelta(hours=1), refreshable=False),
        _request(registration, age=timedelta(seconds=5)),
        _session(registration, expired_for=timedelta(hours=1), refreshable=True),
    ]


class PurgeAuditTests:
    def test_one_record_with_counts_only(self, registration: EhrRegistration) -> None:
        _mixed(registration)
        before = AuditRecord.objects.count()
        purge_expired()
        assert AuditRecord.objects.count() == before + 1
        record = AuditRecord.objects.order_by("-id").first()
        assert record is not None and record.action == "smart_purge" and record.outcome == "success"
        assert record.output_summary == {"authorization_requests": 1, "smart_sessions": 1}
        assert not record.patient_pseudonym and not record.patient_ref_encrypted
        stored = canonical_json({f.name: getattr(record, f.name) for f in AuditRecord._meta.fields})
        assert PATIENT.encode() not in stored and b"secret" not in stored
        assert record_digest(record) == record.record_hash

    def test_nothing_to_delete_writes_no_record(self, registration: EhrRegistration) -> None:
        _request(registration, age=timedelta(seconds=5))
        assert purge_expired() == {"authorization_requests": 0, "smart_sessions": 0}
        assert not AuditRecord.objects.filter(action="smart_purge").exists()

    def test_deletion_rolls_back_when_the_audit_fails(
        self, registration: EhrRegistration, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        rows = _mixed(registration)

        def fail(**kwargs: Any) -> None:
            raise RuntimeError("audit store down")

        monkeypatch.setattr(retention, "purge_record", fail)
        with pytest.raises(RuntimeError):
            purge_expired()
        assert all(_exists(row) for row in rows)


class CleanupCommandTests:
    def test_dry_run_counts_and_deletes_nothing(self, registration: EhrRegistration) -> None:
        rows = _mixed(registration)
        out = StringIO()
        call_command("smart_cleanup", "--dry-run", stdout=out)
        assert out.getvalue().splitlines() == ["would delete 1 authorization requests", "would delete 1 smart sessions"]
        assert all(_exists(row) for row in rows)
        assert not AuditRecord.objects.filter(action="smart_purge").exists()

    def test_run_deletes_and_prints_counts(self, registration: EhrRegistration) -> None:
        used, unrefreshable, fresh, refreshable = _mixed(registration)
        out = StringIO()
        call_command("smart_cleanup", stdout=out)
        assert out.getvalue().splitlines() == ["deleted 1 authorization requests", "deleted 1 smart sessions"]
        assert not _exists(used) and not _exists(unrefreshable) and _exists(fresh) and _exists(refreshable)
        assert purge_preview() == {"authorization_requests": 0, "smart_sessions": 0}


def _expired_dot_token() -> Any:
    from oauth2_provider.models import AccessToken  # the sandbox's django-oauth-toolkit (demo/dev only)

    return AccessToken.objects.create(
        token="sandbox-expired", expires=timezone.now() - timedelta(hours=1), scope="openid"
    )


class CleanupTaskTests:
    def test_task_purges_and_clears_the_sandbox_tokens(self, registration: EhrRegistration) -> None:
        used, unrefreshable, fresh, refreshable = _mixed(registration)
        dot_token = _expired_dot_token()
        result = smart_cleanup.delay().get(timeout=30)
        assert result == {
            "authorization_requests": 1,
            "smart_sessions": 1,
            "oauth2_provider_cleared": True,
            "sandbox_tokens": 0,
            "sandbox_codes": 0,
            "sandbox_launches": 0,
            "sandbox_assertions": 0,
        }
        assert not _exists(used) and not _exists(unrefreshable) and _exists(fresh) and _exists(refreshable)
        assert not _exists(dot_token)

    def test_without_the_sandbox_oauth_app_dot_is_left_alone(
        self, registration: EhrRegistration, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from django.apps import apps

        installed = apps.is_installed
        monkeypatch.setattr(apps, "is_installed", lambda name: name != "oauth2_provider" and installed(name))
        dot_token = _expired_dot_token()
        assert smart_cleanup.delay().get(timeout=30)["oauth2_provider_cleared"] is False
        assert _exists(dot_token)

    def test_beat_runs_it_hourly(self) -> None:
        [entry] = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == smart_cleanup.name]
        assert entry["schedule"] == crontab(minute=0)


def test_now_is_the_purge_time(registration: EhrRegistration) -> None:
    session = _session(registration, expired_for=-timedelta(minutes=30), refreshable=False)
    request = _request(registration, age=timedelta(seconds=0))
    assert purge_preview() == {"authorization_requests": 0, "smart_sessions": 0}
    later = timezone.now() + timedelta(hours=1)
    assert purge_preview(later) == {"authorization_requests": 1, "smart_sessions": 1}
    assert purge_expired(later) == {"authorization_requests": 1, "smart_sessions": 1}
    assert not _exists(session) and not _exists(request)
