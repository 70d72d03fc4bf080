"""The sandbox token endpoint refuses client assertions it cannot trust, each with a precise
error_description: malformed JWTs, a missing kid, unknown clients, and JWKS URLs that fail."""

import base64
import json
from typing import Any

import pytest
from joserfc import jwt

from sandbox_ehr.auth.models import ClientProfile
from tests.sandbox_auth.conftest import Signer
from tests.scripted_server import Answer, scripted_server

pytestmark = pytest.mark.django_db
TOKEN = "/sandbox/auth/token"
BACKEND = "stratify-backend"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _refusal(client: Any, assertion: str, form: dict[str, str]) -> str:
    response = client.post(
        TOKEN, {**form, "grant_type": "client_credentials", "scope": "system/*.rs", "client_assertion": assertion}
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client", response.content
    return str(response.json()["error_description"])


class MalformedAssertionTests:
    def test_not_a_jwt(self, client: Any, backend_signer: Signer) -> None:
        assert _refusal(client, "not-a-jwt", backend_signer.form()) == "The client assertion is not a well-formed JWT."

    def test_claims_that_are_not_an_object(self, client: Any, backend_signer: Signer) -> None:
        header = json.dumps({"alg": "RS384", "kid": backend_signer.kid}).encode()
        assertion = ".".join((_b64(header), _b64(b'["iss", "sub"]'), _b64(b"sig")))
        assert _refusal(client, assertion, backend_signer.form()) == "The client assertion has no claims object."

    def test_a_header_without_kid(self, client: Any, backend_signer: Signer) -> None:
        signed = backend_signer.assertion()
        claims = jwt.decode(signed, backend_signer.key, algorithms=["RS384"]).claims
        kidless = jwt.encode({"alg": "RS384", "typ": "JWT"}, claims, backend_signer.key, algorithms=["RS384"])
        assert _refusal(client, kidless, backend_signer.form()) == "The client assertion header has no kid."


class ClientRegistrationTests:
    def test_an_unknown_client(self, client: Any, backend_signer: Signer) -> None:
        stranger = Signer("no-such-client", backend_signer.key, "RS384", backend_signer.kid)
        assert (
            _refusal(client, stranger.assertion(), stranger.form())
            == "Unknown client, or the client is not registered for private_key_jwt."
        )

    def test_a_client_without_a_jwks_url(self, client: Any, backend_signer: Signer) -> None:
        ClientProfile.objects.filter(application__client_id=BACKEND).update(jwks_uri="")
        assert (
            _refusal(client, backend_signer.assertion(), backend_signer.form())
            == "The client has no registered JWKS URL."
        )

    def test_a_jwks_url_that_does_not_answer(self, client: Any, backend_signer: Signer) -> None:
        ClientProfile.objects.filter(application__client_id=BACKEND).update(jwks_uri="http://127.0.0.1:9/jwks.json")
        assert (
            _refusal(client, backend_signer.assertion(), backend_signer.form())
            == "The client's JWKS could not be fetched from its registered URL."
        )

    def test_a_jwks_url_that_answers_something_else(self, client: Any, backend_signer: Signer) -> None:
        with scripted_server() as host:
            host.routes["GET /jwks.json"] = Answer(200, {"keys": "see our website"})
            ClientProfile.objects.filter(application__client_id=BACKEND).update(jwks_uri=f"{host.url}/jwks.json")
            assert (
                _refusal(client, backend_signer.assertion(), backend_signer.form())
                == "The client's JWKS URL did not return a JWK Set."
            )
