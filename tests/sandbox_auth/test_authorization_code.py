"""SMART App Launch authorization-code flow: discovery, authorize checks, EHR/standalone launch, tokens."""

import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.utils import timezone
from joserfc import jwt
from joserfc.jwk import KeySet

from sandbox_ehr.auth import endpoints
from sandbox_ehr.auth.access import access_grant_for_token
from sandbox_ehr.auth.models import Launch
from sandbox_ehr.auth.services import launch_create
from sandbox_ehr.auth.signing import jwks
from sandbox_ehr.fhir.store import Write, resources_store

pytestmark = pytest.mark.django_db
CALLBACK = f"{endpoints.public_base()}/smart/callback"
PUBLIC = "stratify-sidebar-public"


def _params(pkce, **overrides):
    params = {
        "response_type": "code",
        "client_id": PUBLIC,
        "redirect_uri": CALLBACK,
        "scope": "launch openid fhirUser offline_access patient/Observation.rs patient/Patient.read",
        "state": "st-123",
        "aud": endpoints.fhir_base(),
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
        "nonce": "n-1",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def _redirect_query(response):
    assert response.status_code == 302, response.content
    location = response["Location"]
    assert location.startswith(CALLBACK)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _token(client, form):
    return client.post("/sandbox/auth/token", form)


def _exchange(client, pkce, code, **extra):
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": pkce.verifier,
        "client_id": PUBLIC,
        **extra,
    }
    return _token(client, form)


@pytest.fixture
def patient(db):
    resources_store(
        [
            Write(
                {
                    "resourceType": "Patient",
                    "id": "pt-auth-1",
                    "gender": "female",
                    "birthDate": "1950-02-03",
                    "name": [{"family": "Testwoman", "given": ["Ada"]}],
                }
            )
        ]
    )
    return "pt-auth-1"


def test_smart_configuration(client):
    body = client.get("/sandbox/fhir/.well-known/smart-configuration").json()
    assert body["authorization_endpoint"] == endpoints.authorize_url()
    assert body["token_endpoint"] == endpoints.token_url()
    assert body["introspection_endpoint"] == endpoints.introspect_url()
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert "private_key_jwt" in body["token_endpoint_auth_methods_supported"]
    assert set(body["token_endpoint_auth_signing_alg_values_supported"]) == {"RS384", "ES384"}
    for capability in (
        "launch-ehr",
        "launch-standalone",
        "client-public",
        "client-confidential-asymmetric",
        "context-ehr-patient",
        "context-ehr-encounter",
        "context-standalone-patient",
        "permission-v2",
        "permission-v1",
        "sso-openid-connect",
        "authorize-post",
    ):
        assert capability in body["capabilities"]
    assert body["issuer"] == endpoints.fhir_base()


class AuthorizeRejectionTests:
    @pytest.mark.parametrize(
        ("overrides", "fragment"),
        [
            ({"code_challenge": None, "code_challenge_method": None}, "PKCE"),
            ({"code_challenge_method": "plain"}, "S256"),
            ({"code_challenge": "too-short"}, "code_challenge"),
            ({"aud": "https://evil.example/fhir"}, "aud"),
            ({"response_type": "token"}, "response_type"),
            ({"scope": "system/*.rs"}, "scopes"),
        ],
    )
    def test_error_redirect_keeps_state(self, client, sandbox_clients, pkce, overrides, fragment):
        query = _redirect_query(client.get("/sandbox/auth/authorize", _params(pkce, **overrides)))
        assert "code" not in query
        assert query["state"] == "st-123"
        assert query["error"] in {"invalid_request", "unsupported_response_type", "invalid_scope"}
        assert fragment in query["error_description"]

    def test_missing_state(self, client, sandbox_clients, pkce):
        query = _redirect_query(client.get("/sandbox/auth/authorize", _params(pkce, state=None)))
        assert query["error"] == "invalid_request"
        assert "state" not in query and "code" not in query

    def test_unregistered_redirect_uri_is_a_page_not_a_redirect(self, client, sandbox_clients, pkce):
        response = client.get(
            "/sandbox/auth/authorize", _params(pkce, redirect_uri="https://evil.example/cb"), HTTP_ACCEPT="text/html"
        )
        assert response.status_code == 400
        assert "Location" not in response
        assert b"redirect_uri is not registered" in response.content

    def test_unknown_client(self, client, sandbox_clients, pkce):
        response = client.get("/sandbox/auth/authorize", _params(pkce, client_id="nobody"))
        assert response.status_code == 400
        assert response.json()["code"] == "invalid"


class EhrLaunchTests:
    def _launch_code(self, client, pkce, **params):
        launch = launch_create(patient_id="pt-9", encounter_id="enc-9", app_context='{"card": "abc"}')
        query = _redirect_query(client.get("/sandbox/auth/authorize", _params(pkce, launch=launch, **params)))
        return launch, query

    def test_full_flow_token_response(self, client, sandbox_clients, pkce):
        _, query = self._launch_code(client, pkce)
        assert query["state"] == "st-123"
        response = _exchange(client, pkce, query["code"])
        assert response.status_code == 200, response.content
        assert response["Cache-Control"] == "no-store"
        body = response.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
        assert body["patient"] == "pt-9" and body["encounter"] == "enc-9"
        assert body["need_patient_banner"] is False
        assert body["smart_style_url"] == endpoints.style_url()
        assert body["appContext"] == '{"card": "abc"}'
        assert body["scope"].split() == [
            "launch",
            "openid",
            "fhirUser",
            "offline_access",
            "patient/Observation.rs",
            "patient/Patient.read",
        ]
        assert body["refresh_token"]
        grant = access_grant_for_token(body["access_token"])
        assert grant.patient_id == "pt-9" and grant.allows("Observation", "search")
        assert not grant.allows("Observation", "create")

    def test_id_token_is_signed_with_published_key(self, client, sandbox_clients, pkce):
        _, query = self._launch_code(client, pkce)
        body = _exchange(client, pkce, query["code"]).json()
        published = client.get("/sandbox/ehr/.well-known/jwks.json").json()
        assert all("d" not in key for key in published["keys"])
        token = jwt.decode(body["id_token"], KeySet.import_key_set(published), algorithms=["RS256"])
        assert token.header["alg"] == "RS256"
        claims = token.claims
        assert claims["iss"] == endpoints.issuer() and claims["aud"] == PUBLIC
        assert claims["fhirUser"] == endpoints.practitioner_url() and claims["nonce"] == "n-1"
        assert claims["sub"] and claims["exp"] > time.time() >= claims["iat"] - 5

    def test_no_id_token_or_refresh_without_those_scopes(self, client, sandbox_clients, pkce):
        _, query = self._launch_code(client, pkce, scope="launch patient/*.rs")
        body = _exchange(client, pkce, query["code"]).json()
        assert "id_token" not in body and "refresh_token" not in body

    def test_launch_is_single_use(self, client, sandbox_clients, pkce):
        launch, _ = self._launch_code(client, pkce)
        query = _redirect_query(client.get("/sandbox/auth/authorize", _params(pkce, launch=launch)))
        assert query["error"] == "invalid_request" and "launch" in query["error_description"]

    def test_expired_launch(self, client, sandbox_clients, pkce):
        launch = launch_create(patient_id="pt-9")
        Launch.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        query = _redirect_query(client.get("/sandbox/auth/authorize", _params(pkce, launch=launch)))
        assert query["error"] == "invalid_request" and "code" not in query

    def test_unknown_launch(self, client, sandbox_clients, pkce):
        query = _redirect_query(client.get("/sandbox/auth/authorize", _params(pkce, launch="forged")))
        assert query["error"] == "invalid_request"

    def test_authorize_post(self, client, sandbox_clients, pkce):
        launch = launch_create(patient_id="pt-9")
        query = _redirect_query(client.post("/sandbox/auth/authorize", _params(pkce, launch=launch)))
        assert query["code"]

    def test_scope_downgrade(self, client, sandbox_clients, pkce):
        _, query = self._launch_code(client, pkce, scope="launch patient/*.cruds system/*.rs")
        assert _exchange(client, pkce, query["code"]).json()["scope"] == "launch patient/*.rs"


class CodeExchangeTests:
    @pytest.fixture
    def code(self, client, sandbox_clients, pkce):
        launch = launch_create(patient_id="pt-9")
        return _redirect_query(client.get("/sandbox/auth/authorize", _params(pkce, launch=launch)))["code"]

    @pytest.mark.parametrize("verifier", ["", "short", "x" * 60])
    def test_bad_verifier(self, client, pkce, code, verifier):
        response = _exchange(client, pkce, code, code_verifier=verifier)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_grant"

    def test_code_is_single_use_and_replay_revokes(self, client, pkce, code):
        first = _exchange(client, pkce, code).json()
        replay = _exchange(client, pkce, code)
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
        introspect_state = client.post(
            "/sandbox/auth/token",
            {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": PUBLIC},
        )
        assert introspect_state.json()["error"] == "invalid_grant"
        with pytest.raises(Exception, match="invalid"):
            access_grant_for_token(first["access_token"])

    def test_redirect_uri_must_match(self, client, pkce, code):
        response = _exchange(client, pkce, code, redirect_uri=CALLBACK + "/other")
        assert response.json()["error"] == "invalid_grant"

    def test_other_client_cannot_use_code(self, client, pkce, code, sidebar_signer):
        response = _exchange(client, pkce, code, client_id="stratify-sidebar", **sidebar_signer.form())
        assert response.status_code == 400 and response.json()["error"] == "invalid_grant"

    def test_confidential_client_without_assertion(self, client, pkce, code):
        response = _exchange(client, pkce, code, client_id="stratify-sidebar")
        assert response.status_code == 401 and response.json()["error"] == "invalid_client"

    def test_unsupported_grant_type(self, client, sandbox_clients):
        response = _token(client, {"grant_type": "password", "client_id": PUBLIC})
        assert response.json()["error"] == "unsupported_grant_type"


class RefreshTests:
    def test_refresh_rotates_and_narrows(self, client, sandbox_clients, pkce):
        launch = launch_create(patient_id="pt-9")
        code = _redirect_query(client.get("/sandbox/auth/authorize", _params(pkce, launch=launch)))["code"]
        first = _exchange(client, pkce, code).json()
        form = {
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": PUBLIC,
            "scope": "patient/Observation.rs offline_access patient/Condition.rs",
        }
        second = _token(client, form)
        assert second.status_code == 200, second.content
        body = second.json()
        assert body["scope"] == "patient/Observation.rs offline_access"
        assert body["patient"] == "pt-9" and body["access_token"] != first["access_token"]
        assert body["refresh_token"] != first["refresh_token"]
        assert _token(client, form).json()["error"] == "invalid_grant"  # the old one was rotated out
        assert access_grant_for_token(body["access_token"]).allows("Observation", "read")


class StandaloneLaunchTests:
    def test_patient_picker_then_code(self, client, sandbox_clients, pkce, patient):
        params = _params(pkce, scope="launch/patient openid fhirUser patient/*.rs")
        page = client.get("/sandbox/auth/authorize", params)
        assert page.status_code == 200
        assert b"Ada Testwoman" in page.content and b"sandbox clinician" in page.content
        signed = page.context["signed"]
        query = _redirect_query(client.post("/sandbox/auth/authorize/patient", {"request": signed, "patient": patient}))
        body = _exchange(client, pkce, query["code"]).json()
        assert body["patient"] == patient and body["need_patient_banner"] is True
        assert "encounter" not in body

    def test_picker_search(self, client, sandbox_clients, pkce, patient):
        params = _params(pkce, scope="launch/patient patient/*.rs", q="testwo")
        assert b"Ada Testwoman" in client.get("/sandbox/auth/authorize", params).content
        params["q"] = "zzzz"
        assert b"Ada Testwoman" not in client.get("/sandbox/auth/authorize", params).content

    def test_tampered_or_unknown_patient(self, client, sandbox_clients, pkce, patient):
        page = client.get("/sandbox/auth/authorize", _params(pkce, scope="launch/patient patient/*.rs"))
        bad = client.post(
            "/sandbox/auth/authorize/patient", {"request": page.context["signed"] + "x", "patient": patient}
        )
        assert bad.status_code == 400
        unknown = client.post("/sandbox/auth/authorize/patient", {"request": page.context["signed"], "patient": "nope"})
        assert unknown.status_code == 400

    def test_no_patient_scopes_no_picker(self, client, sandbox_clients, pkce):
        query = _redirect_query(client.get("/sandbox/auth/authorize", _params(pkce, scope="openid fhirUser")))
        body = _exchange(client, pkce, query["code"]).json()
        assert "patient" not in body and body["id_token"]


def test_jwks_served_over_http_lists_both_keys(live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    jwks()  # no keys before setup
    from sandbox_ehr.auth.signing import jwt_sign

    jwt_sign("id_token", {"sub": "x"})
    jwt_sign("cds_client", {"sub": "x"})
    keys = requests.get(f"{live_server.url}/sandbox/ehr/.well-known/jwks.json", timeout=5).json()["keys"]
    assert {k["alg"] for k in keys} == {"RS256", "ES384"}
