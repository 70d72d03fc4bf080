"""EHR and standalone launch end to end against the sandbox EHR over real HTTP (pytest-django live_server).

The browser is a `requests.Session` (cookies, redirects); every hop is real: our /smart/launch, the
sandbox's discovery and authorize endpoints, our callback (code exchange with a private_key_jwt
assertion the sandbox verifies against our /.well-known/jwks.json, id_token against its JWKS), and
the sidebar reading the sandbox FHIR server with the clinician's token.
"""

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from audit.models import AuditRecord
from smart_launch.models import EhrRegistration, SmartSession

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
HTML = {"Accept": "text/html"}


def _ehr_launch(sandbox: dict[str, str], browser: requests.Session, *, app_context: str = "") -> requests.Response:
    from sandbox_ehr.auth.services import launch_create

    launch = launch_create(patient_id=sandbox["patient"], app_context=app_context)
    return browser.get(
        f"{sandbox['base']}/smart/launch", params={"iss": sandbox["iss"], "launch": launch}, headers=HTML, timeout=60
    )


def _assert_sidebar(response: requests.Response, sandbox: dict[str, str]) -> SmartSession:
    assert response.status_code == 200, response.text[:2000]
    assert response.url == f"{sandbox['base']}/smart/app"
    assert "frame-ancestors 'self' " + sandbox["base"] in response.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in response.headers
    smart = SmartSession.objects.get()
    assert smart.patient == sandbox["patient"]
    assert smart.access_token_encrypted and "Bearer" not in response.text
    return smart


class EhrLaunchTests:
    def test_ehr_launch_reaches_the_sidebar(self, sandbox: dict[str, str]) -> None:
        browser = requests.Session()
        response = _ehr_launch(sandbox, browser)
        smart = _assert_sidebar(response, sandbox)
        assert smart.fhir_user.endswith("/Practitioner/sandbox-clinician")
        assert not smart.need_patient_banner and 'class="sb-banner"' not in response.text
        # smart_style_url honoured: the EHR's colours and font, in a style block the CSP admits by nonce only.
        from sandbox_ehr.ehr.style import SMART_STYLE

        assert smart.smart_style_url
        nonce = re.search(r'<style nonce="([^"]+)">', response.text)
        assert nonce and f"'nonce-{nonce.group(1)}'" in response.headers["Content-Security-Policy"]
        assert f"--smart-highlight: {SMART_STYLE['color_highlight']}" in unescape(response.text)
        assert "--smart-font: system-ui" in unescape(response.text)
        assert "Model card:" in response.text or "Not scored because" in response.text
        # PhysioNet records no consciousness level: NEWS2's note says what it assumed.
        assert 'class="sb-notes"' in response.text and "Level of consciousness not recorded" in response.text
        actions = list(
            AuditRecord.objects.filter(action__in=["smart_launch", "sidebar_view"]).values_list("action", "outcome")
        )
        assert ("smart_launch", "success") in actions and ("sidebar_view", "success") in actions
        # Every inference audited, without one record per trend point: a record per score shown now, and one
        # trend summary per model version listing each recomputation (as-of time, output, input digest).
        scores = list(AuditRecord.objects.filter(action="score"))
        now = [r for r in scores if r.detail.get("source") == "sidebar"]
        trend = [r for r in scores if r.detail.get("source") == "sidebar_trend"]
        assert now and len(now) + len(trend) == len(scores)
        assert len({(r.model_name, r.model_version) for r in trend}) == len(trend)
        assert {r.model_name for r in trend} == {r.model_name for r in now}
        assert all(r.actor == smart.fhir_user for r in scores) and all(len(r.input_digest) == 64 for r in trend)
        points = trend[0].output_summary["points"]
        assert len(points) == trend[0].output_summary["count"] >= 1
        assert all(p["as_of"] and p["input_digest"] for p in points)
        # The app page keeps working on reload with the stored (encrypted) token.
        assert browser.get(f"{sandbox['base']}/smart/app", headers=HTML, timeout=60).status_code == 200

    def test_replayed_callback_is_refused(self, sandbox: dict[str, str]) -> None:
        browser = requests.Session()
        first = _ehr_launch(sandbox, browser)
        assert first.status_code == 200
        callback = next(r for r in first.history if "/smart/callback" in r.url)
        replay = browser.get(callback.url, headers=HTML, timeout=60)
        assert replay.status_code == 401 and "already used" in replay.text

    def test_reused_launch_value_is_an_ehr_error_page(self, sandbox: dict[str, str]) -> None:
        from sandbox_ehr.auth.services import launch_create

        launch = launch_create(patient_id=sandbox["patient"])
        params = {"iss": sandbox["iss"], "launch": launch}
        assert requests.get(f"{sandbox['base']}/smart/launch", params=params, headers=HTML, timeout=60).ok
        again = requests.get(f"{sandbox['base']}/smart/launch", params=params, headers=HTML, timeout=60)
        assert again.status_code == 403 and "could not authorize" in again.text

    def test_ehr_grants_no_clinical_scope(self, sandbox: dict[str, str]) -> None:
        # The sandbox narrows scopes to what the client may have (here: none of the clinical ones).
        EhrRegistration.objects.update(scopes="user/Binary.cruds")
        response = _ehr_launch(sandbox, requests.Session())
        assert response.status_code == 403 and "did not grant the app access" in response.text
        assert "What to do" in response.text
        assert AuditRecord.objects.filter(action="sidebar_view", outcome="failure").exists()

    def test_assertion_signed_with_an_unpublished_key_fails_the_exchange(self, sandbox: dict[str, str]) -> None:
        from joserfc.jwk import ECKey, RSAKey

        from smart_launch.models import ClientKey

        for record in ClientKey.objects.filter(active=True):  # publish someone else's public keys under our kids
            other = (
                ECKey.generate_key("P-384", private=True)
                if record.alg == "ES384"
                else RSAKey.generate_key(2048, private=True)
            )
            record.public_jwk = {**other.as_dict(private=False), "kid": record.kid, "alg": record.alg}
            record.save()
        response = _ehr_launch(sandbox, requests.Session())
        assert response.status_code == 502 and "refused the code exchange" in response.text
        assert AuditRecord.objects.filter(action="smart_launch", outcome="failure").exists()


class TokenLifetimeTests:
    def test_expiring_token_is_refreshed_with_offline_access(self, sandbox: dict[str, str]) -> None:
        from django.utils import timezone

        from config.keys import decrypt_text

        EhrRegistration.objects.update(offline_access=True)
        browser = requests.Session()
        assert _ehr_launch(sandbox, browser).status_code == 200
        smart = SmartSession.objects.get()
        assert smart.refresh_token_encrypted and "offline_access" in smart.scope.split()
        old_token = decrypt_text(smart.access_token_encrypted)
        SmartSession.objects.update(expires_at=timezone.now())
        assert browser.get(f"{sandbox['base']}/smart/app", headers=HTML, timeout=60).status_code == 200
        smart.refresh_from_db()
        assert decrypt_text(smart.access_token_encrypted) != old_token and smart.expires_at > timezone.now()

    def test_expired_session_without_refresh_token(self, sandbox: dict[str, str]) -> None:
        from django.utils import timezone

        browser = requests.Session()
        assert _ehr_launch(sandbox, browser).status_code == 200
        SmartSession.objects.update(expires_at=timezone.now(), refresh_token_encrypted="")
        response = browser.get(f"{sandbox['base']}/smart/app", headers=HTML, timeout=60)
        assert response.status_code == 401 and "expired" in response.text and "What to do" in response.text


class StandaloneLaunchTests:
    def test_standalone_launch_with_patient_picker(self, sandbox: dict[str, str]) -> None:
        browser = requests.Session()
        chooser = browser.get(f"{sandbox['base']}/smart/launch/standalone", headers=HTML, timeout=60)
        assert chooser.status_code == 200 and sandbox["iss"] in chooser.text
        picker = browser.get(
            f"{sandbox['base']}/smart/launch/standalone", params={"iss": sandbox["iss"]}, headers=HTML, timeout=60
        )
        assert picker.status_code == 200 and "Choose a patient" in picker.text
        form = {
            name: unescape(value)
            for name, value in re.findall(r'name="(csrfmiddlewaretoken|request)" value="([^"]+)"', picker.text)
        }
        form["patient"] = sandbox["patient"]
        response = browser.post(
            f"{sandbox['base']}/sandbox/auth/authorize/patient",
            data=form,
            headers={**HTML, "Referer": picker.url},
            timeout=60,
        )
        smart = _assert_sidebar(response, sandbox)
        assert smart.need_patient_banner and 'class="sb-banner"' in response.text
        query = parse_qs(urlsplit(picker.history[0].headers["Location"]).query)
        assert "launch/patient" in query["scope"][0].split()


class BackendServicesTests:
    def test_client_credentials_token_is_cached_and_works(self, sandbox: dict[str, str]) -> None:
        from fhirapp.client import FhirClient
        from smart_launch.backend import backend_access_token

        scope = "system/Patient.rs"
        token = backend_access_token(iss=sandbox["iss"], scope=scope)
        assert backend_access_token(iss=sandbox["iss"], scope=scope) == token  # from the cache
        patient = FhirClient(sandbox["iss"], token).read("Patient", sandbox["patient"])
        assert patient["id"] == sandbox["patient"]
