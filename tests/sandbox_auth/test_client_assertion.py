"""private_key_jwt client authentication, SMART Backend Services (client_credentials) and introspection."""

import pytest
from joserfc.jwk import ECKey, OctKey

from sandbox_ehr.auth import endpoints
from sandbox_ehr.auth.access import access_grant_for_token
from sandbox_ehr.auth.services import access_token_issue
from tests.sandbox_auth.conftest import make_signer

pytestmark = pytest.mark.django_db
TOKEN = "/sandbox/auth/token"


def _backend(client, signer, scope="system/*.rs", **assertion):
    return client.post(TOKEN, {"grant_type": "client_credentials", "scope": scope, **signer.form(**assertion)})


class ClientAssertionTests:
    def test_rs384_backend_token(self, client, backend_signer):
        response = _backend(client, backend_signer)
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["scope"] == "system/*.rs" and body["token_type"] == "Bearer"
        assert "refresh_token" not in body and "patient" not in body and "id_token" not in body
        grant = access_grant_for_token(body["access_token"])
        assert grant.client_id == "stratify-backend" and grant.patient_id is None
        assert grant.allows("Observation", "search") and not grant.allows("Observation", "create")

    def test_es384_backend_token(self, client, sandbox_clients):
        signer = make_signer(sandbox_clients, "stratify-backend", alg="ES384")
        assert _backend(client, signer).status_code == 200

    def test_bad_signature(self, client, backend_signer):
        impostor = make_signer(type("H", (), {"add": lambda self, k, a: "x"})(), "stratify-backend", "RS384")
        response = _backend(client, backend_signer, key=impostor.key)
        assert response.status_code == 401 and response.json()["error"] == "invalid_client"
        assert "signature" in response.json()["error_description"]

    def test_wrong_aud(self, client, backend_signer):
        response = _backend(client, backend_signer, aud="https://other.example/token")
        assert response.status_code == 401 and "aud" in response.json()["error_description"]

    def test_replayed_jti(self, client, backend_signer):
        assert _backend(client, backend_signer, jti="same-jti").status_code == 200
        replay = _backend(client, backend_signer, jti="same-jti")
        assert replay.status_code == 401 and "jti" in replay.json()["error_description"]

    def test_expired_and_too_long(self, client, backend_signer):
        assert _backend(client, backend_signer, lifetime=-120).status_code == 401
        too_long = _backend(client, backend_signer, lifetime=3600)
        assert too_long.status_code == 401 and "five minutes" in too_long.json()["error_description"]

    def test_hs256_rejected(self, client, backend_signer):
        secret = OctKey.import_key("a-shared-secret-that-is-long-enough-1234567890")
        response = _backend(client, backend_signer, alg="HS256", key=secret)
        assert response.status_code == 401 and "RS384" in response.json()["error_description"]

    def test_alg_none_rejected(self, client, backend_signer):
        import base64
        import json

        def b64(obj):
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

        good = backend_signer.assertion()
        claims = json.loads(base64.urlsafe_b64decode(good.split(".")[1] + "=="))
        unsigned = f"{b64({'alg': 'none', 'kid': backend_signer.kid})}.{b64(claims)}."
        form = {
            **backend_signer.form(),
            "grant_type": "client_credentials",
            "scope": "system/*.rs",
            "client_assertion": unsigned,
        }
        response = client.post(TOKEN, form)
        assert response.status_code == 401 and response.json()["error"] == "invalid_client"

    def test_iss_must_equal_sub(self, client, backend_signer):
        assert _backend(client, backend_signer, sub="someone-else").status_code == 401

    def test_wrong_assertion_type(self, client, backend_signer):
        form = {"grant_type": "client_credentials", "scope": "system/*.rs", **backend_signer.form()}
        form["client_assertion_type"] = "urn:other"
        assert client.post(TOKEN, form).status_code == 401

    def test_jwks_cached_and_refetched_on_unknown_kid(self, client, backend_signer, sandbox_clients):
        assert _backend(client, backend_signer).status_code == 200
        fetched = sandbox_clients.fetches
        assert _backend(client, backend_signer).status_code == 200
        assert sandbox_clients.fetches == fetched  # served from the cache
        rotated = make_signer(sandbox_clients, "stratify-backend", alg="ES384")
        assert _backend(client, rotated).status_code == 200
        assert sandbox_clients.fetches == fetched + 1

    def test_unknown_kid_after_refetch(self, client, backend_signer):
        backend_signer.kid = "not-published"
        response = _backend(client, backend_signer)
        assert response.status_code == 401 and "kid" in response.json()["error_description"]

    def test_confidential_sidebar_code_flow_client_auth(self, client, sidebar_signer):
        response = client.post(
            TOKEN,
            {
                "grant_type": "authorization_code",
                "code": "x",
                "redirect_uri": "x",
                "code_verifier": "x",
                **sidebar_signer.form(),
            },
        )
        assert response.json()["error"] == "invalid_grant"  # authenticated; only the code is wrong


class ClientCredentialsTests:
    def test_non_system_scope_rejected(self, client, backend_signer):
        response = _backend(client, backend_signer, scope="patient/*.rs")
        assert response.status_code == 400 and response.json()["error"] == "invalid_scope"

    def test_scope_downgrade(self, client, backend_signer):
        assert _backend(client, backend_signer, scope="system/*.cruds").json()["scope"] == "system/*.crus"
        assert (
            _backend(client, backend_signer, scope="system/Observation.read").json()["scope"]
            == "system/Observation.read"
        )

    def test_only_client_credentials_clients(self, client, sidebar_signer):
        response = _backend(client, sidebar_signer)
        assert response.json()["error"] == "unauthorized_client"

    def test_public_client_cannot_use_client_credentials(self, client, sandbox_clients):
        response = client.post(
            TOKEN, {"grant_type": "client_credentials", "scope": "system/*.rs", "client_id": "stratify-sidebar-public"}
        )
        assert response.status_code == 401


class IntrospectionTests:
    URL = "/sandbox/auth/introspect"

    def test_active_token_by_client_assertion(self, client, backend_signer):
        token = access_token_issue(
            client_id="stratify-sidebar",
            scope="patient/*.rs openid fhirUser",
            patient_id="p1",
            encounter_id="e1",
            fhir_user=endpoints.practitioner_url(),
        )
        body = client.post(self.URL, {"token": token, **backend_signer.form(aud=endpoints.introspect_url())}).json()
        assert body["active"] is True and body["client_id"] == "stratify-sidebar"
        assert body["scope"] == "patient/*.rs openid fhirUser" and body["patient"] == "p1"
        assert body["encounter"] == "e1" and body["fhirUser"] == endpoints.practitioner_url()
        assert body["exp"] > body["iat"]

    def test_unknown_token_inactive(self, client, backend_signer):
        body = client.post(self.URL, {"token": "nope", **backend_signer.form()}).json()
        assert body == {"active": False}

    def test_requires_authentication(self, client, sandbox_clients):
        token = access_token_issue(client_id="x", scope="system/*.rs")
        assert client.post(self.URL, {"token": token}).status_code == 401
        public = client.post(self.URL, {"token": token, "client_id": "stratify-sidebar-public"})
        assert public.status_code == 401

    def test_bearer_with_introspect_scope(self, client, backend_signer):
        caller = _backend(client, backend_signer, scope="system/*.rs introspect")
        # client_credentials accepts only system/ scopes, so the introspect scope comes from a direct issue
        assert caller.status_code == 400
        bearer = access_token_issue(client_id="stratify-backend", scope="introspect")
        token = access_token_issue(client_id="x", scope="system/*.rs")
        ok = client.post(self.URL, {"token": token}, HTTP_AUTHORIZATION=f"Bearer {bearer}")
        assert ok.json()["active"] is True
        plain = access_token_issue(client_id="x", scope="system/*.rs")
        denied = client.post(self.URL, {"token": token}, HTTP_AUTHORIZATION=f"Bearer {plain}")
        assert denied.status_code == 401


def test_ec_key_fixture_sanity():
    assert ECKey.generate_key("P-384", private=True).as_dict(private=False)["crv"] == "P-384"
