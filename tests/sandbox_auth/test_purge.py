"""The sandbox authorization server's expired tokens, codes, launches and assertion jtis are purged."""

from datetime import timedelta

import pytest
from django.utils import timezone

from sandbox_ehr.auth.models import AuthorizationCode, IssuedToken, Launch, UsedAssertion
from sandbox_ehr.auth.services import expired_purge

pytestmark = pytest.mark.django_db


def _code(name: str, expires_in: timedelta) -> AuthorizationCode:
    return AuthorizationCode.objects.create(
        code_hash=name,
        client_id="c",
        redirect_uri="https://app/cb",
        scope="openid",
        code_challenge="x",
        expires_at=timezone.now() + expires_in,
    )


def _token(name: str, expires_in: timedelta, code: AuthorizationCode | None = None) -> IssuedToken:
    return IssuedToken.objects.create(
        token_hash=name, kind="access", client_id="c", scope="openid", code=code, expires_at=timezone.now() + expires_in
    )


def test_expired_rows_go_and_live_ones_stay() -> None:
    hour = timedelta(hours=1)
    spent_code, code_with_live_token = _code("spent", -hour), _code("live-token", -hour)
    _token("expired", -hour, spent_code)
    live = _token("live", hour, code_with_live_token)
    Launch.objects.create(value_hash="old", patient_id="p", expires_at=timezone.now() - hour)
    Launch.objects.create(value_hash="new", patient_id="p", expires_at=timezone.now() + hour)
    UsedAssertion.objects.create(client_id="c", jti="old", expires_at=timezone.now() - hour)
    UsedAssertion.objects.create(client_id="c", jti="new", expires_at=timezone.now() + hour)

    counts = expired_purge()

    assert counts == {"sandbox_tokens": 1, "sandbox_codes": 1, "sandbox_launches": 1, "sandbox_assertions": 1}
    assert list(Launch.objects.values_list("value_hash", flat=True)) == ["new"]
    assert list(IssuedToken.objects.values_list("token_hash", flat=True)) == [live.token_hash]
    # A code whose token still lives is kept, so that a replay of it can still revoke that token.
    assert list(AuthorizationCode.objects.values_list("code_hash", flat=True)) == ["live-token"]
    assert list(UsedAssertion.objects.values_list("jti", flat=True)) == ["new"]
    assert expired_purge() == {"sandbox_tokens": 0, "sandbox_codes": 0, "sandbox_launches": 0, "sandbox_assertions": 0}
