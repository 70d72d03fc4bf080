"""The simulator's current encounter and its Discharge button (CDS Hooks `encounter-discharge`) over real HTTP."""

import html
import io
import re
import tarfile
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest
from django.conf import settings as django_settings
from django.test import Client

from cds_hooks.models import IssuedCard
from sandbox_ehr.fhir.bundles import bundle_process
from sandbox_ehr.fhir.loader import physionet
from sandbox_ehr.fhir.loader.service import LoadReport, synthea_load
from sandbox_ehr.fhir.selectors import resource_get

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
SYNTHEA = Path(django_settings.SHARED_DATA) / "synthea" / "synthea_r4_inpatient_bundles.tar.gz"
# A living Synthea patient whose last encounter is an inpatient stay (class IMP) of a day.
BUNDLE = "bundles/Trenton_Turner_54a45132-91fc-485e-b401-8c7644a0d517.json"
PATIENT_ID = "a6fb5437-10d5-4f70-81a0-4f43bfbd9fb0"
LAST_STAY = "6d6da75c-d6ca-4a3e-bada-142b4a5646dc"
HEADING = re.compile(r"Decision support \(CDS Hooks <code>encounter-discharge</code>\)")


@pytest.fixture
def synthea_patient(sandbox, tmp_path: Path) -> str:
    """The live sandbox plus one real Synthea bundle, loaded (time-shifted) as load_sandbox_data does."""
    with tarfile.open(SYNTHEA, "r:gz") as source:
        member = source.getmember(BUNDLE)
        payload = source.extractfile(member).read()  # type: ignore[union-attr]
    target = tmp_path / "one.tar.gz"
    with tarfile.open(target, "w:gz") as out:
        out.addfile(member, io.BytesIO(payload))
    synthea_load(target, LoadReport(), anchor=physionet.default_anchor(), progress=False)
    return PATIENT_ID


def _encounter(rid: str) -> dict:
    return orjson.loads(resource_get("Encounter", rid).content)


def _admit(patient_id: str, klass: str = "IMP", rid: str = "sim-admission", **extra: object) -> str:
    """An in-progress encounter of `klass` that began two days before the last stay, written to the sandbox."""
    started = datetime.fromisoformat(_encounter(LAST_STAY)["period"]["start"]) - timedelta(days=2)
    admission = {
        "resourceType": "Encounter",
        "id": rid,
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": klass},
        "subject": {"reference": f"Patient/{patient_id}"},
        "period": {"start": started.isoformat()},
    }
    bundle_process(
        bundle={
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"resource": {**admission, **extra}, "request": {"method": "PUT", "url": f"Encounter/{rid}"}}],
        },
        grant=None,
        base_url="",
    )
    return rid


def test_chart_of_a_discharged_patient_uses_the_latest_encounter_and_offers_no_discharge(client, synthea_patient):
    page = client.get(f"/sandbox/ehr/patients/{synthea_patient}")
    assert page.status_code == 200 and page.context["encounter_id"] == LAST_STAY
    assert "not in progress" in page.context["discharge_refusal"]
    assert f'action="/sandbox/ehr/patients/{synthea_patient}/discharge"' not in page.content.decode()


def test_an_in_progress_encounter_is_preferred_to_a_later_finished_one(client, synthea_patient):
    _admit(synthea_patient)
    page = client.get(f"/sandbox/ehr/patients/{synthea_patient}")
    assert page.context["encounter_id"] == "sim-admission"
    assert page.context["hook"].hook == "patient-view"
    body = page.content.decode()
    assert f'action="/sandbox/ehr/patients/{synthea_patient}/discharge"' in body
    assert 'name="encounter" value="sim-admission"' in body and "the record is not changed" in body


def test_an_ambulatory_visit_in_progress_offers_no_discharge(client, synthea_patient):
    _admit(synthea_patient, klass="AMB", rid="sim-visit")
    page = client.get(f"/sandbox/ehr/patients/{synthea_patient}")
    assert page.context["encounter_id"] == "sim-visit" and "not an inpatient stay" in page.context["discharge_refusal"]
    assert "/discharge" not in page.content.decode()
    refused = client.post(
        f"/sandbox/ehr/patients/{synthea_patient}/discharge", {"encounter": "sim-visit"}, HTTP_ACCEPT="text/html"
    )
    assert refused.status_code == 400 and b"not an inpatient stay" in refused.content
    assert not IssuedCard.objects.filter(hook="encounter-discharge").exists()


def test_a_deceased_patient_gets_one_note_and_no_discharge(client, synthea_patient):
    _admit(synthea_patient)
    patient = orjson.loads(resource_get("Patient", synthea_patient).content)
    bundle_process(
        bundle={
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "resource": {**patient, "deceasedDateTime": "2024-01-02T03:04:05+00:00"},
                    "request": {"method": "PUT", "url": f"Patient/{synthea_patient}"},
                }
            ],
        },
        grant=None,
        base_url="",
    )
    page = client.get(f"/sandbox/ehr/patients/{synthea_patient}")
    body = page.content.decode()
    assert page.status_code == 200 and page.context["hook"] is None
    assert body.count("no risk scores are requested") == 1 and "not scored" not in body
    assert "/discharge" not in body and not IssuedCard.objects.exists()
    refused = client.post(
        f"/sandbox/ehr/patients/{synthea_patient}/discharge", {"encounter": "sim-admission"}, HTTP_ACCEPT="text/html"
    )
    assert refused.status_code == 400 and b"The patient has died." in refused.content


def test_physionet_chart_uses_the_icu_stay_in_progress(client, sandbox):
    pid = physionet.patient_fhir_id(
        physionet.stays_select(
            Path(django_settings.SHARED_DATA) / "physionet2019" / "physionet2019_training_setB.csv.gz", 2
        )[0].patient
    )
    assert client.get(f"/sandbox/ehr/patients/{pid}").context["encounter_id"] == f"{pid}-icu"


def test_discharge_fires_encounter_discharge_and_shows_the_readmission_card(client, synthea_patient):
    stay = _admit(synthea_patient)
    version = resource_get("Encounter", stay).version_id
    page = client.post(f"/sandbox/ehr/patients/{synthea_patient}/discharge", {"encounter": stay})
    assert page.status_code == 200
    hook = page.context["hook"]
    assert hook.hook == "encounter-discharge" and not hook.error, hook.error
    body = page.content.decode()
    assert HEADING.search(body) and "Back to the chart" in body
    readmission = next(s for s in hook.services if s.service_id == "stratify-readmission")
    assert not readmission.error, readmission.error
    assert {"patient", "encounters"} <= set(readmission.prefetched)  # from the service's own templates
    [card] = readmission.cards
    assert html.escape(card["summary"]) in body
    issued = IssuedCard.objects.get(uuid=card["uuid"])
    assert (issued.hook, issued.encounter_id, issued.model_name) == ("encounter-discharge", stay, "readmission")
    assert issued.scored, card["summary"]  # an inpatient stay in progress: scored as if discharged now
    assert resource_get("Encounter", stay).version_id == version  # the record is not changed


def test_discharge_is_csrf_protected_and_needs_an_encounter(client, synthea_patient):
    url = f"/sandbox/ehr/patients/{synthea_patient}/discharge"
    assert Client(enforce_csrf_checks=True).post(url, {"encounter": LAST_STAY}).status_code == 403
    refused = client.post(url, {"encounter": ""}, HTTP_ACCEPT="text/html")
    assert refused.status_code == 400 and b"Discharge needs the id of the encounter" in refused.content
    assert not IssuedCard.objects.exists()
    assert client.post("/sandbox/ehr/patients/nope/discharge", {"encounter": LAST_STAY}).status_code == 404
    assert client.get(url).status_code == 405
