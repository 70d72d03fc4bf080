"""JWT trust of CDS clients: the negative matrix over real HTTP JWKS fetching, and the spec's own example."""

import base64
import time
import uuid
from typing import Any

import orjson
import pytest
from django.test import Client
from joserfc.jwk import ECKey, OctKey, RSAKey

from audit.models import AuditRecord
from cds_hooks.models import TrustedCdsClient
from cds_hooks.services.clients import trusted_client_disable, trusted_client_upsert
from tests.cds_hooks.conftest import CLIENT_ISS, JwksServer, TokenFactory, claims_for, sign

pytestmark = [pytest.mark.django_db, pytest.mark.integration]
PATH = "/cds-services/stratify-sepsis/feedback"
FEEDBACK = {
    "feedback": [{"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2025-01-01T00:00:00Z"}]
}


def _post(token: str | None, path: str = PATH, body: dict[str, Any] | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client().post(path, data=orjson.dumps(body or FEEDBACK), content_type="application/json", headers=headers)


def _last_failure() -> AuditRecord | None:
    return AuditRecord.objects.filter(action="cds_auth_failure").order_by("-id").first()


def _assert_refused(response: Any, reason: str) -> None:
    assert response.status_code == 401
    assert response.json() == {"message": "Authentication failed.", "code": "not_authenticated", "extra": {}}
    record = _last_failure()
    assert record is not None and record.outcome == "denied"
    assert reason in record.detail["reason"]


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


def test_valid_token_passes_trust(trusted_client: TrustedCdsClient, make_token: TokenFactory) -> None:
    response = _post(make_token(PATH))
    assert response.status_code == 404  # past trust: the card is unknown
    assert response.json()["code"] == "card_not_found"
    assert not AuditRecord.objects.filter(action="cds_auth_failure").exists()


def test_rs256_client_passes(db: None, jwks_server: JwksServer) -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
    jwks_server.publish(key)
    trusted_client_upsert(iss=CLIENT_ISS, jwks_url=jwks_server.url)
    assert _post(sign(key, claims_for(PATH), alg="RS256", kid="rsa-1")).status_code == 404


def test_missing_token(trusted_client: TrustedCdsClient) -> None:
    _assert_refused(_post(None), "missing bearer token")


def test_expired(trusted_client: TrustedCdsClient, make_token: TokenFactory) -> None:
    now = int(time.time())
    _assert_refused(_post(make_token(PATH, iat=now - 600, exp=now - 300)), "token expired")


def test_small_skew_is_tolerated(trusted_client: TrustedCdsClient, make_token: TokenFactory) -> None:
    now = int(time.time())
    assert _post(make_token(PATH, iat=now + 5, exp=now + 300)).status_code == 404


def test_iat_in_the_future(trusted_client: TrustedCdsClient, make_token: TokenFactory) -> None:
    now = int(time.time())
    _assert_refused(_post(make_token(PATH, iat=now + 3600, exp=now + 3900)), "iat in the future")


def test_wrong_aud(trusted_client: TrustedCdsClient, make_token: TokenFactory) -> None:
    _assert_refused(_post(make_token("/cds-services/stratify-news2/feedback")), "aud mismatch")


def test_replayed_jti(trusted_client: TrustedCdsClient, make_token: TokenFactory) -> None:
    token = make_token(PATH)
    assert _post(token).status_code == 404
    _assert_refused(_post(token), "replayed jti")


def test_missing_jti(trusted_client: TrustedCdsClient, make_token: TokenFactory) -> None:
    _assert_refused(_post(make_token(PATH, jti=None)), "missing jti")


def test_alg_none(trusted_client: TrustedCdsClient) -> None:
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims_for(PATH))}."
    _assert_refused(_post(token), "algorithm not allowed: none")


def test_hs256_even_with_the_public_key_as_secret(trusted_client: TrustedCdsClient, client_key: ECKey) -> None:
    secret = OctKey.import_key(orjson.dumps(client_key.as_dict(private=False)))
    _assert_refused(_post(sign(secret, claims_for(PATH), alg="HS256")), "algorithm not allowed: HS256")


def test_unknown_iss(trusted_client: TrustedCdsClient, make_token: TokenFactory) -> None:
    _assert_refused(_post(make_token(PATH, iss="https://evil.example/")), "unknown or disabled issuer")


def test_disabled_client(trusted_client: TrustedCdsClient, make_token: TokenFactory) -> None:
    trusted_client_disable(iss=trusted_client.iss)
    _assert_refused(_post(make_token(PATH)), "unknown or disabled issuer")


def test_bad_signature(trusted_client: TrustedCdsClient, client_key: ECKey) -> None:
    forger = ECKey.generate_key("P-384")
    _assert_refused(_post(sign(forger, claims_for(PATH), kid=client_key.kid)), "bad signature")


def test_tampered_claims(trusted_client: TrustedCdsClient, make_token: TokenFactory) -> None:
    header, _, signature = make_token(PATH).split(".")
    forged = f"{header}.{_b64(claims_for(PATH, sub='someone-else'))}.{signature}"
    _assert_refused(_post(forged), "bad signature")


def test_unknown_kid_refetches_then_rejects(
    trusted_client: TrustedCdsClient, jwks_server: JwksServer, make_token: TokenFactory
) -> None:
    assert _post(make_token(PATH)).status_code == 404  # JWKS fetched and cached
    hits = jwks_server.hits
    stranger = ECKey.generate_key("P-384", parameters={"kid": "not-published"})
    _assert_refused(_post(sign(stranger, claims_for(PATH), kid="not-published")), "unknown kid")
    assert jwks_server.hits == hits + 1  # refetched once...
    _assert_refused(_post(sign(stranger, claims_for(PATH), kid="not-published")), "unknown kid")
    assert jwks_server.hits == hits + 1  # ...and rate-limited afterwards


def test_key_rotation_is_picked_up_by_refetch(
    trusted_client: TrustedCdsClient, jwks_server: JwksServer, client_key: ECKey, make_token: TokenFactory
) -> None:
    assert _post(make_token(PATH)).status_code == 404
    rotated = ECKey.generate_key("P-384", parameters={"kid": "rotated"})
    jwks_server.publish(client_key, rotated)
    assert _post(sign(rotated, claims_for(PATH), kid="rotated")).status_code == 404


def test_tenant_must_match(db: None, jwks_server: JwksServer, client_key: ECKey, make_token: TokenFactory) -> None:
    jwks_server.publish(client_key)
    trusted_client_upsert(iss=CLIENT_ISS, jwks_url=jwks_server.url, tenant="ward-7")
    _assert_refused(_post(make_token(PATH)), "tenant mismatch")
    assert _post(make_token(PATH, tenant="ward-7")).status_code == 404


# The example of the spec, "Trusting CDS Clients" (cds-hooks/docs docs/specification/current.md): an ES384
# JWT for aud https://cds.example.org/cds-services/some-service, signed with the JWK published there,
# expired since 2015-01-29.
SPEC_JWT = (
    "eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCIsImtpZCI6ImV4YW1wbGUta2lkIiwiamt1IjoiaHR0cHM6Ly9maGlyLWVoci5leGFtcGxl"
    "LmNvbS9qd2tfdXJpIn0.eyJpc3MiOiJodHRwczovL2ZoaXItZWhyLmV4YW1wbGUuY29tLyIsInN1YiI6ImNsaWVudF9pZCIsImF1ZCI6I"
    "mh0dHBzOi8vY2RzLmV4YW1wbGUub3JnL2Nkcy1zZXJ2aWNlcy9zb21lLXNlcnZpY2UiLCJleHAiOjE0MjI1Njg4NjAsImlhdCI6MTMxMT"
    "I4MDk3MCwianRpIjoiZWUyMmIwMjEtZTFiNy00NjExLWJhNWItOGVlYzZhMzNhYzFlIiwidGVuYW50IjoiMmRkZDZjM2EtOGU5YS00NGM2"
    "LWEzMDUtNTIxMTFhZDMwMmEyIn0.CUFPkplnWd6YGIvzoHolWCQBDsCL8QtTWKGg_QFpS169WrqDGzktRi-_we6-6rVzbjerU27ZKww_SW0"
    "-b9RTz-dPJNcqsueMio8r6EqXUXhbLm_ch3XFSbDlGHDl_tqo"
)
SPEC_JWKS = {
    "keys": [
        {
            "kty": "EC",
            "use": "sig",
            "crv": "P-384",
            "kid": "example-kid",
            "alg": "ES384",
            "x": "46SDH7Znh821wblCBglA61sNE9ZrHYKKt3qRtRTmSXyOI_FIGBLWrWa0GPUkDCEk",
            "y": "XMcRuuoGW7CXjQdy-F5i3FeBE0x9hPLdeFdSoDd3ELmx404tLX0VRRcqzAsPhXcI",
        }
    ]
}


def test_spec_example_jwt_is_rejected_as_expired(db: None, settings: Any) -> None:
    settings.PUBLIC_BASE_URL = "https://cds.example.org"
    trusted_client_upsert(
        iss="https://fhir-ehr.example.com/", jwks=SPEC_JWKS, tenant="2ddd6c3a-8e9a-44c6-a305-52111ad302a2"
    )
    # Signature, issuer, aud and tenant all check out; only its age refuses it.
    _assert_refused(_post(SPEC_JWT, path="/cds-services/some-service", body={}), "token expired")


# --- the JWT header, exactly as CDS Hooks 2.0 says: alg, kid and typ "JWT" are required ------------------


def _signed_with_header(key: ECKey, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A correctly signed compact JWS with exactly `header` (joserfc signs whatever header it is given)."""
    from joserfc import jws

    return jws.serialize_compact(header, orjson.dumps(claims), key, algorithms=[str(header.get("alg"))])


def test_no_kid(trusted_client: TrustedCdsClient, client_key: ECKey) -> None:
    """Accepted before when the JWKS held one key: the spec requires `kid`."""
    _assert_refused(_post(sign(client_key, claims_for(PATH))), "token has no kid")


@pytest.mark.parametrize("typ", [None, "jwt+at", "JWS", ""])
def test_typ_must_be_jwt(trusted_client: TrustedCdsClient, client_key: ECKey, typ: str | None) -> None:
    header = {"alg": "ES384", "kid": client_key.kid, **({"typ": typ} if typ is not None else {})}
    _assert_refused(_post(_signed_with_header(client_key, header, claims_for(PATH))), "typ must be JWT")


def test_nbf_in_the_future(trusted_client: TrustedCdsClient, make_token: TokenFactory) -> None:
    _assert_refused(_post(make_token(PATH, nbf=int(time.time()) + 3600)), "nbf in the future")


def test_nbf_now_is_accepted(trusted_client: TrustedCdsClient, make_token: TokenFactory) -> None:
    assert _post(make_token(PATH, nbf=int(time.time()))).status_code == 404


@pytest.mark.parametrize("where", ["alg", "kid", "typ", "extra header", "iss claim"])
def test_nul_bytes_are_a_401_not_a_500(trusted_client: TrustedCdsClient, client_key: ECKey, where: str) -> None:
    header: dict[str, Any] = {"alg": "ES384", "kid": client_key.kid, "typ": "JWT"}
    claims = claims_for(PATH)
    if where == "iss claim":
        claims["iss"] = CLIENT_ISS + "\x00"
    elif where == "extra header":
        header["x5u"] = "a\x00b"
    else:
        header[where] = str(header[where]) + "\x00"
    unsigned = f"{_b64(header)}.{_b64(claims)}.{_b64({'sig': 'x'})}"  # NUL headers cannot even be signed here
    response = _post(unsigned)
    assert response.status_code == 401
    record = _last_failure()
    assert record is not None and "\x00" not in record.detail["reason"] + record.actor


def test_nul_in_the_bearer_itself(trusted_client: TrustedCdsClient, make_token: TokenFactory) -> None:
    assert _post(make_token(PATH) + "\x00").status_code == 401
