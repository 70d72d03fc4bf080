"""The EHR simulator over real HTTP: patient list, chart with the product's patient-view CDS call, EHR launch."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils.html import escape

from sandbox_ehr.auth import endpoints
from sandbox_ehr.auth.models import Launch

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _first_patient(client) -> str:
    page = client.get("/sandbox/ehr/").content.decode()
    match = re.search(r'href="/sandbox/ehr/patients/(physionet-[^"]+)"', page)
    assert match, page
    return match.group(1)


def test_patient_list_and_search(client, sandbox):
    page = client.get("/sandbox/ehr/")
    assert page.status_code == 200 and b"PhysioNet 2019" in page.content
    pid = _first_patient(client)
    assert pid.encode() in client.get("/sandbox/ehr/", {"q": pid}).content
    empty = client.get("/sandbox/ehr/", {"q": "no-such-patient-zz"}).content.decode()
    assert "No patients match “no-such-patient-zz”" in empty and "load_sandbox_data" not in empty  # data is loaded


def test_chart_calls_cds_and_shows_vitals(client, sandbox):
    pid = _first_patient(client)
    page = client.get(f"/sandbox/ehr/patients/{pid}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Recent vital signs" in html and "Heart rate" in html  # read over HTTP from the FHIR server
    assert f"{pid}-" in html  # the stay's encounter in the header
    hook = page.context["hook"]
    # The product's CDS discovery and services answered over real HTTP with a verified ES384 JWT.
    assert not hook.error, hook.error
    assert {s.service_id for s in hook.services} >= {"news2", "qsofa"} or len(hook.services) >= 2, hook.services
    answered = [s for s in hook.services if not s.error]
    assert answered, [s.error for s in hook.services]
    for failed in (s for s in hook.services if s.error):  # e.g. a model not ready (503): said plainly
        assert "CDS call failed" in html and failed.error.split(":")[0] in html
    assert all(s.prefetched for s in hook.services)  # templates evaluated against the sandbox FHIR server
    cards = [c for s in answered for c in s.cards]
    assert cards and all(c.get("summary") for c in cards)
    assert escape(cards[0]["summary"]) in html  # shown as text, HTML-escaped ("<1%")


def test_chart_shows_clear_message_when_cds_unreachable(client, sandbox, settings):
    pid = _first_patient(client)
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    page = client.get(f"/sandbox/ehr/patients/{pid}")
    assert page.status_code == 200
    assert (
        b"CDS call failed" in page.content
        and b"CDS discovery at http://127.0.0.1:9/cds-services failed" in page.content
    )


def test_launch_button_creates_bound_launch(client, sandbox):
    pid = _first_patient(client)
    response = client.post(
        f"/sandbox/ehr/patients/{pid}/launch",
        {"url": f"{sandbox.url}/smart/launch", "encounter": f"{pid}-icu", "app_context": '{"card": "c-1"}'},
    )
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{sandbox.url}/smart/launch"
    query = parse_qs(location.query)
    assert query["iss"] == [endpoints.fhir_base()]
    launch = Launch.objects.get()
    assert (launch.patient_id, launch.encounter_id, launch.app_context) == (pid, f"{pid}-icu", '{"card": "c-1"}')
    assert query["launch"][0] not in launch.value_hash  # only the hash is stored


def test_launch_refuses_foreign_app(client, sandbox):
    pid = _first_patient(client)
    response = client.post(
        f"/sandbox/ehr/patients/{pid}/launch", {"url": "https://evil.example/launch"}, HTTP_ACCEPT="text/html"
    )
    assert response.status_code == 400 and not Launch.objects.exists()


def test_unknown_patient_chart_is_404(client, sandbox):
    assert client.get("/sandbox/ehr/patients/nope").status_code == 404


def test_style_json(client, sandbox):
    assert client.get("/sandbox/ehr/smart-style.json").json()["color_background"] == "#ffffff"
