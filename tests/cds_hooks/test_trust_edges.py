"""CDS client JWT trust, the cases tests/cds_hooks/test_trust.py leaves out: a kid-less token, a token that
lives too long, a payload that is not an object, a key of the wrong type, and a JWKS nobody can fetch."""

import base64
import time
from typing import Any

import orjson
import pytest
from django.test import Client
from joserfc.jwk import ECKey, RSAKey

from audit.models import AuditRecord
from cds_hooks.models import TrustedCdsClient
from cds_hooks.services.clients import trusted_client_upsert
from tests.cds_hooks.conftest import CLIENT_ISS, JwksServer, TokenFactory, claims_for, sign

pytestmark = [pytest.mark.django_db, pytest.mark.integration]
PATH = "/cds-services/stratify-sepsis/feedback"
FEEDBACK = {
    "feedback": [
        {
            "card": "00000000-0000-4000-8000-000000000000",
            "outcome": "overridden",
            "outcomeTimestamp": "2025-01-01T00:00:00Z",
        }
    ]
}


def _post(token: str) -> Any:
    return Client().post(
        PATH, data=orjson.dumps(FEEDBACK), content_type="application/json", headers={"Authorization": f"Bearer {token}"}
    )


def _accepted(response: Any) -> bool:
    """Past trust, the feedback names an unknown card (404); a refusal is a 401."""
    return response.status_code == 404 and response.json()["code"] == "card_not_found"


def _refused_because(response: Any) -> str:
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"
    record = AuditRecord.objects.filter(action="cds_auth_failure").order_by("-id").first()
    assert record is not None
    return str(record.detail["reason"])


def _es384(kid: str | None = None) -> ECKey:
    return ECKey.generate_key("P-384", parameters={"alg": "ES384", **({"kid": kid} if kid else {})})


class KidTests:
    def test_a_token_without_kid_is_refused_even_with_a_single_key(self, db: None, jwks_server: JwksServer) -> None:
        """CDS Hooks 2.0: the JWT header MUST carry `kid` (these two tests accepted a kid-less token before)."""
        key = _es384()
        jwks_server.publish(key)
        trusted_client_upsert(iss=CLIENT_ISS, jwks_url=jwks_server.url)
        assert _refused_because(_post(sign(key, claims_for(PATH)))) == "token has no kid"

    def test_a_token_without_kid_is_refused_when_the_jwks_has_several_keys(
        self, db: None, jwks_server: JwksServer
    ) -> None:
        key = _es384("a")
        jwks_server.publish(key, _es384("b"))
        trusted_client_upsert(iss=CLIENT_ISS, jwks_url=jwks_server.url)
        assert _refused_because(_post(sign(key, claims_for(PATH)))) == "token has no kid"

    def test_a_kid_naming_a_key_of_another_type_is_refused(self, db: None, jwks_server: JwksServer) -> None:
        jwks_server.publish(RSAKey.generate_key(2048, parameters={"kid": "shared"}))
        trusted_client_upsert(iss=CLIENT_ISS, jwks_url=jwks_server.url)
        reason = _refused_because(_post(sign(_es384(), claims_for(PATH), kid="shared")))
        assert reason.startswith("undecodable token: ")


class ClaimTests:
    def test_a_token_valid_longer_than_allowed_is_refused(
        self, trusted_client: TrustedCdsClient, make_token: TokenFactory, settings
    ) -> None:
        now = int(time.time())
        token = make_token(PATH, iat=now, exp=now + settings.CDS_JWT_MAX_LIFETIME_SECONDS + 1)
        assert _refused_because(_post(token)) == "token lifetime too long"
        assert _accepted(_post(make_token(PATH, iat=now, exp=now + settings.CDS_JWT_MAX_LIFETIME_SECONDS)))

    def test_a_payload_that_is_not_an_object_is_refused(self, trusted_client: TrustedCdsClient) -> None:
        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        token = ".".join(b64(part) for part in (b'{"alg": "ES384"}', b"[1, 2]", b"sig"))
        assert _refused_because(_post(token)) == "claims are not an object"


def test_an_unreachable_jwks_refuses_with_the_reason(db: None, client_key: ECKey) -> None:
    trusted_client_upsert(iss=CLIENT_ISS, jwks_url="http://127.0.0.1:9/jwks.json")  # nothing listens there
    reason = _refused_because(_post(sign(client_key, claims_for(PATH), kid=client_key.kid)))
    assert reason.startswith("JWKS unavailable")
