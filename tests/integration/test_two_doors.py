"""One pipeline: the same patient at the same as-of scores identically through the CDS door and the sidebar door.

Golden for every patient-view model and three kinds of patient: a PhysioNet ICU stay, a Synthea inpatient and a
Synthea check-up patient, all loaded into the sandbox EHR and read over real HTTP. The CDS door gets the
prefetch the EHR builds from the published templates (the sandbox simulator's own code); the sidebar door
fetches with the clinician's token after a real SMART EHR launch. Value, band, drivers and the inputs digest
must be equal (the sidebar used to fetch its own fixed list and gave other numbers).
"""

import dataclasses
import io
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from cds_hooks.selectors import cds_catalogue_reset, cds_services
from cds_hooks.services.calls import call_parse, cds_service_score
from cds_hooks.trust import CdsCaller
from fhirapp.client import FhirClient
from fhirapp.models import WriteBack
from sandbox_ehr.auth.services import access_token_issue, launch_create
from sandbox_ehr.ehr.cds import hook_context, hook_fire, prefetch_build
from sandbox_ehr.fhir.loader import physionet
from sandbox_ehr.fhir.loader.service import LoadReport, synthea_load
from scoring.catalogue import ModelDefinition, hook_definitions, register, unregister
from scoring.catalogue.qsofa import QSOFA
from scoring.services_registry import rule_register
from scoring.types import ScoreResult
from sidebar.pages import sidebar_context
from smart_launch.models import SmartSession

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SYNTHEA = Path(django_settings.SHARED_DATA) / "synthea" / "synthea_r4_inpatient_bundles.tar.gz"
PHYSIONET_A = Path(django_settings.SHARED_DATA) / "physionet2019" / "physionet2019_training_setA.csv.gz"
# A living Synthea patient whose last encounter is an inpatient stay (class IMP), and one whose last
# encounter is a 30-minute ambulatory check-up (class AMB).
INPATIENT = ("bundles/Trenton_Turner_54a45132-91fc-485e-b401-8c7644a0d517.json", "a6fb5437-10d5-4f70-81a0-4f43bfbd9fb0")
CHECK_UP = ("bundles/Abdul_Koepp_e925b0f3-8006-43f6-aa31-94bd215e55e7.json", "018f428e-34f6-4707-8009-5ad742f901e7")
HOOK = "patient-view"


def _synthea(tmp_path: Path, member_name: str) -> None:
    with tarfile.open(SYNTHEA, "r:gz") as source:
        member = source.getmember(member_name)
        payload = source.extractfile(member).read()  # type: ignore[union-attr]
    target = tmp_path / f"{member.name.rsplit('/', 1)[-1]}.tar.gz"
    with tarfile.open(target, "w:gz") as out:
        out.addfile(member, io.BytesIO(payload))
    synthea_load(target, LoadReport(), anchor=physionet.default_anchor(), progress=False)


@pytest.fixture
def ehr(live_server: Any, settings: Any, tmp_path: Path) -> dict[str, str]:
    """The sandbox EHR on the live server with a PhysioNet septic stay and two Synthea patients loaded."""
    settings.PUBLIC_BASE_URL = live_server.url
    settings.CDS_CALL_BUDGET_MS = 60_000  # the doors are compared, not timed: a busy machine must not refuse
    for command in ("install_models", "sandbox_setup", "smart_demo_setup"):
        call_command(command, verbosity=0)
    call_command("load_sandbox_data", "--physionet", "2", "--set", "A", "--no-synthea", verbosity=0)
    _synthea(tmp_path, INPATIENT[0])
    _synthea(tmp_path, CHECK_UP[0])
    cds_catalogue_reset()
    septic = next(s for s in physionet.stays_select(PHYSIONET_A, 2) if s.septic)
    return {
        "base": live_server.url,
        "iss": f"{live_server.url}/sandbox/fhir",
        "physionet": physionet.patient_fhir_id(septic.patient),
        "inpatient": INPATIENT[1],
        "check_up": CHECK_UP[1],
    }


def _launch(ehr: dict[str, str], patient_id: str) -> SmartSession:
    """A real SMART EHR launch into the sidebar (PKCE, private_key_jwt, id_token) for `patient_id`."""
    launch = launch_create(patient_id=patient_id)
    response = requests.get(
        f"{ehr['base']}/smart/launch",
        params={"iss": ehr["iss"], "launch": launch},
        headers={"Accept": "text/html"},
        timeout=120,
    )
    assert response.status_code == 200, response.text[:2000]
    return SmartSession.objects.filter(patient=patient_id).latest("created_at")


def _sidebar_door(smart: SmartSession, as_of: Any) -> dict[str, ScoreResult]:
    context = sidebar_context(smart, now=as_of)
    assert not context["unavailable"], context["unavailable"]
    return {panel.result.model_name: panel.result for panel in context["panels"]}


def _cds_door(ehr: dict[str, str], smart: SmartSession, as_of: Any) -> dict[str, ScoreResult]:
    """Each patient-view service called as the EHR calls it: its prefetch, built from its published templates."""
    context = hook_context(patient_id=smart.patient, encounter_id=smart.encounter or None)
    reader = access_token_issue(client_id="stratify-cds", scope="patient/*.rs", patient_id=smart.patient)
    ehr_fhir = FhirClient(ehr["iss"], reader)
    caller = CdsCaller(
        iss="https://ehr.example.org", sub="golden", jti="golden", tenant="", client_id=0, fhir_servers=(ehr["iss"],)
    )
    results: dict[str, ScoreResult] = {}
    for service in (s for s in cds_services().values() if s.hook == HOOK):
        body = {
            "hook": HOOK,
            "hookInstance": f"golden-{service.id}",
            "fhirServer": ehr["iss"],
            "fhirAuthorization": {
                "access_token": reader,
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "patient/*.rs",
                "subject": "stratify-cds",
            },
            "context": context,
            "prefetch": prefetch_build(service.prefetch, context, ehr_fhir),
        }
        data, scored = cds_service_score(
            service, call_parse(service, body, caller), started=time.monotonic(), as_of=as_of
        )
        assert not data.unavailable, data.unavailable
        results.update({r.model_name: r for r in scored if r.model_status != "shadow"})
    return results


def _essence(result: ScoreResult) -> dict[str, Any]:
    """What a clinician and the audit see of a score: value, band, drivers, inputs digest, or why not scored."""
    return {
        "scored": result.scored,
        "probability": result.probability,
        "points": result.points,
        "band": result.band,
        "input_digest": result.input_digest,
        "missing": result.missing,
        "stale": result.stale,
        "version": result.model_version,
        "drivers": [(d.feature, d.value, round(d.contribution, 9), d.value_text, d.text) for d in result.drivers],
    }


@pytest.mark.parametrize("patient", ["physionet", "inpatient", "check_up"])
def test_cds_card_and_sidebar_score_the_same(ehr: dict[str, str], patient: str) -> None:
    smart = _launch(ehr, ehr[patient])
    as_of = timezone.now()
    sidebar = _sidebar_door(smart, as_of)
    cds = _cds_door(ehr, smart, as_of)
    models = {m.name for m in hook_definitions(HOOK)}
    assert set(sidebar) == set(cds) == models
    for name in sorted(models):
        assert _essence(cds[name]) == _essence(sidebar[name]), name
    # The comparison is of real scores, not only of refusals: an ICU stay scores with every model, an inpatient
    # stay with readmission (the check-up patient's models all refuse, each for its own reason).
    scored = {"physionet": {"sepsis", "news2", "qsofa", "readmission"}, "inpatient": {"readmission"}}
    assert {n for n, r in cds.items() if r.scored} == scored.get(patient, set())


# --- Adding a model is one catalogue entry: a toy model defined here, in this module only ----------------------

TOY = ModelDefinition(
    name="toy",
    title="Toy score",
    kind="rule",
    hooks=(HOOK,),
    order=99,
    requirements=QSOFA.requirements,
    outcome=QSOFA.outcome,
    description="a test-only model that reuses qSOFA's published points under another name",
    rule=dataclasses.replace(QSOFA.rule, version="toy-1") if QSOFA.rule else None,
)


@pytest.fixture
def toy_model(ehr: dict[str, str]) -> Iterator[ModelDefinition]:
    register(TOY)
    rule_register(name=TOY.name, registered_by="test")
    cds_catalogue_reset()
    yield TOY
    unregister(TOY.name)
    cds_catalogue_reset()


def test_a_toy_model_is_one_catalogue_entry(ehr: dict[str, str], toy_model: ModelDefinition) -> None:
    """Registered in the catalogue (and the registry), it gets a CDS service, a card, a sidebar panel and a
    write-back, with no other module touched."""
    patient = ehr["physionet"]
    assert "stratify-toy" in cds_services()
    context = hook_context(patient_id=patient, encounter_id=None)
    reader = access_token_issue(client_id="stratify-cds", scope="patient/*.rs", patient_id=patient)
    fired = hook_fire(HOOK, context, fhir=FhirClient(ehr["iss"], reader))
    [toy] = [s for s in fired.services if s.service_id == "stratify-toy"]
    assert not toy.error and toy.cards and "Toy score" in toy.cards[0]["summary"]
    assert WriteBack.objects.filter(model_name="toy", service_id="stratify-toy").exists()
    sidebar = _sidebar_door(_launch(ehr, patient), timezone.now())
    assert sidebar["toy"].title == "Toy score"
    assert _essence(sidebar["toy"])["points"] == _essence(sidebar["qsofa"])["points"]  # the same published points
