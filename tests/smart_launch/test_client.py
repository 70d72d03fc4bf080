"""Unit tests of smart_launch.client: discovery (and its fallback), scopes, the authorization URL, id_token checks."""

import base64
import hashlib
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from config import jwks
from fhirapp.errors import FhirRequestRejected
from smart_launch import client
from smart_launch.client import SmartConfiguration
from smart_launch.errors import DiscoveryFailed, IdTokenInvalid

pytestmark = pytest.mark.django_db


class _FakeFhir:
    """Stands in for FhirClient in narrow discovery tests: answers by path."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def _answer(self, path: str) -> dict[str, Any]:
        self.calls.append(path)
        answer = self.answers.get(path)
        if answer is None:
            raise FhirRequestRejected(extra={"upstream_status": 404})
        return answer

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self._answer(path)

    def get(self, path: str, **kwargs: Any) -> dict[str, Any]:
        return self._answer(path)


def _capability_statement(base: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "rest": [
            {
                "mode": "server",
                "security": {
                    "extension": [
                        {
                            "url": client.OAUTH_URIS_EXTENSION,
                            "extension": [
                                {"url": "authorize", "valueUri": f"{base}/authorize"},
                                {"url": "token", "valueUri": f"{base}/token"},
                            ],
                        },
                        {"url": client.CAPABILITIES_EXTENSION, "valueCode": "launch-ehr"},
                    ]
                },
            }
        ],
    }


class DiscoveryTests:
    def test_well_known_is_used_and_cached(self, monkeypatch: pytest.MonkeyPatch, fake_iss: str) -> None:
        fake = _FakeFhir(
            {
                ".well-known/smart-configuration": {
                    "authorization_endpoint": f"{fake_iss}/a",
                    "token_endpoint": f"{fake_iss}/t",
                    "capabilities": ["permission-v2"],
                    "code_challenge_methods_supported": ["S256"],
                    "issuer": fake_iss,
                }
            }
        )
        monkeypatch.setattr(client, "_fhir", lambda iss: fake)
        first = client.discover(fake_iss)
        second = client.discover(fake_iss)
        assert first == second
        assert first.token_endpoint == f"{fake_iss}/t" and first.source == "smart-configuration"
        assert fake.calls == [".well-known/smart-configuration"]  # the second answer came from the cache

    def test_falls_back_to_capability_statement(self, monkeypatch: pytest.MonkeyPatch, fake_iss: str) -> None:
        fake = _FakeFhir({"metadata": _capability_statement(fake_iss)})
        monkeypatch.setattr(client, "_fhir", lambda iss: fake)
        config = client.discover(fake_iss)
        assert config.source == "capability-statement"
        assert (config.authorization_endpoint, config.token_endpoint) == (f"{fake_iss}/authorize", f"{fake_iss}/token")
        assert not config.supports_v2_scopes

    def test_well_known_without_endpoints_falls_back(self, monkeypatch: pytest.MonkeyPatch, fake_iss: str) -> None:
        fake = _FakeFhir(
            {".well-known/smart-configuration": {"capabilities": []}, "metadata": _capability_statement(fake_iss)}
        )
        monkeypatch.setattr(client, "_fhir", lambda iss: fake)
        assert client.discover(fake_iss).source == "capability-statement"

    def test_nothing_found_is_a_clear_error(self, monkeypatch: pytest.MonkeyPatch, fake_iss: str) -> None:
        empty = _FakeFhir({"metadata": {"resourceType": "CapabilityStatement"}})
        monkeypatch.setattr(client, "_fhir", lambda iss: empty)
        with pytest.raises(DiscoveryFailed) as caught:
            client.discover(fake_iss)
        assert caught.value.status_code == 502 and caught.value.extra["what_to_do"]


class ScopeTests:
    def _config(self, **kwargs: Any) -> SmartConfiguration:
        return SmartConfiguration(
            iss="https://e/fhir", authorization_endpoint="https://e/a", token_endpoint="https://e/t", **kwargs
        )

    def test_v2_when_permission_v2(self) -> None:
        scope = client.launch_scopes(
            config=self._config(capabilities=("permission-v2",)),
            clinical_scopes="patient/Patient.rs patient/Observation.rs",
            standalone=False,
            offline_access=False,
        )
        assert scope == "launch openid fhirUser patient/Patient.rs patient/Observation.rs"

    def test_v1_when_only_v1_listed(self) -> None:
        config = self._config(capabilities=("permission-v1",), scopes_supported=("patient/*.read", "launch"))
        scope = client.launch_scopes(
            config=config,
            clinical_scopes="patient/Patient.rs patient/Encounter.rs",
            standalone=True,
            offline_access=True,
        )
        assert scope.split() == [
            "launch/patient",
            "openid",
            "fhirUser",
            "offline_access",
            "patient/Patient.read",
            "patient/Encounter.read",
        ]

    def test_v2_when_v2_scopes_listed(self) -> None:
        assert self._config(scopes_supported=("patient/Observation.rs",)).supports_v2_scopes
        assert not self._config(scopes_supported=("patient/Observation.read",)).supports_v2_scopes

    def test_v1_translation(self) -> None:
        assert client.v1_scope("patient/Observation.rs") == "patient/Observation.read"
        assert client.v1_scope("patient/Observation.cruds") == "patient/Observation.*"
        assert client.v1_scope("openid") == "openid"


class AuthorizationUrlTests:
    def test_pkce_s256_aud_launch_state_nonce(self) -> None:
        config = SmartConfiguration(
            iss="https://e/fhir",
            authorization_endpoint="https://e/auth/authorize",
            token_endpoint="https://e/auth/token",
        )
        verifier = "v" * 64
        url = client.authorization_url(
            config=config,
            client_id="stratify-sidebar",
            redirect_uri="https://s/cb",
            scope="launch openid fhirUser",
            state="S" * 43,
            nonce="N" * 43,
            code_verifier=verifier,
            launch="L123",
        )
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://e/auth/authorize"
        assert query["response_type"] == "code" and query["client_id"] == "stratify-sidebar"
        assert query["code_challenge_method"] == "S256" and query["code_challenge"] == expected
        assert query["aud"] == "https://e/fhir" and query["launch"] == "L123"
        assert query["state"] == "S" * 43 and query["nonce"] == "N" * 43
        assert query["redirect_uri"] == "https://s/cb" and query["scope"] == "launch openid fhirUser"
        assert verifier not in url


def _id_token(key: ECKey, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": "",
        "aud": "stratify-sidebar",
        "sub": "Practitioner/1",
        "iat": now,
        "exp": now + 300,
        "nonce": "n-1",
        "fhirUser": "https://e/fhir/Practitioner/1",
    } | claims
    return jwt.encode({"alg": "ES256", "kid": key.kid}, payload, key, algorithms=["ES256"])


class IdTokenTests:
    def test_valid_token_gives_claims(self, smart_config: SmartConfiguration, ehr_key: ECKey) -> None:
        token = _id_token(ehr_key, iss=smart_config.issuer)
        claims = client.id_token_validate(
            config=smart_config, id_token=token, client_id="stratify-sidebar", nonce="n-1"
        )
        assert claims["fhirUser"] == "https://e/fhir/Practitioner/1"

    @pytest.mark.parametrize(
        "override",
        [
            {"iss": "https://evil.example.org/fhir"},
            {"aud": "someone-else"},
            {"nonce": "n-2"},
            {"exp": int(time.time()) - 3600},
        ],
    )
    def test_wrong_claims_are_refused(
        self, smart_config: SmartConfiguration, ehr_key: ECKey, override: dict[str, Any]
    ) -> None:
        token = _id_token(ehr_key, **({"iss": smart_config.issuer} | override))
        with pytest.raises(IdTokenInvalid):
            client.id_token_validate(config=smart_config, id_token=token, client_id="stratify-sidebar", nonce="n-1")

    def test_foreign_signature_is_refused(
        self, smart_config: SmartConfiguration, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        other = ECKey.generate_key("P-256", private=True)
        other.ensure_kid()
        token = _id_token(other, iss=smart_config.issuer)
        # the refetch finds nothing either
        monkeypatch.setattr(jwks, "_download", lambda url, timeout, registered: b'{"keys": []}')
        with pytest.raises(IdTokenInvalid):
            client.id_token_validate(config=smart_config, id_token=token, client_id="stratify-sidebar", nonce="n-1")

    def test_unsigned_token_is_refused(self, smart_config: SmartConfiguration) -> None:
        header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
        body = base64.urlsafe_b64encode(b'{"iss":"x"}').rstrip(b"=").decode()
        with pytest.raises(IdTokenInvalid):
            client.id_token_validate(config=smart_config, id_token=f"{header}.{body}.", client_id="c", nonce="n")
