"""The sidebar's write-back line refers to the assessment it shows (same inputs digest, same EHR), never to
another score of the same patient (it showed the latest write-back of the patient and model, whatever it was)."""

import pytest

from fhirapp.models import WriteBack
from fhirapp.services.writeback import write_back_submit
from sidebar.panels import model_panel_build
from tests.fhirapp.conftest import sepsis_result

pytestmark = pytest.mark.django_db
EHR = "https://ehr.example.org/fhir"


def _written(fhir_base_url: str = EHR) -> WriteBack:
    decision = write_back_submit(
        result=sepsis_result(),
        patient_id="pat-1",
        encounter_id="enc-1",
        fhir_base_url=fhir_base_url,
        source="cds",
        service_id="stratify-sepsis",
    )
    assert decision is not None and decision.written and decision.write_back is not None
    WriteBack.objects.filter(pk=decision.write_back.pk).update(
        status="succeeded", resource_refs=["RiskAssessment/ra-9"]
    )
    return decision.write_back


def _line(result: object, fhir_base: str = EHR) -> dict[str, str]:
    panel = model_panel_build(result, [], patient_id="pat-1", fhir_base=fhir_base, encounter_id="enc-1")  # type: ignore[arg-type]
    assert panel.write_back is not None
    return panel.write_back


def test_the_assessment_shown_is_the_one_written() -> None:
    _written()
    assert _line(sepsis_result()) | {"updated_at": ""} == {
        "status": "succeeded",
        "text": "this assessment: succeeded",
        "updated_at": "",
        "error": "",
    }


def test_another_assessment_of_the_patient_is_not_reported_as_this_one() -> None:
    _written()
    line = _line(sepsis_result(input_digest="c" * 64, probability=0.12, band="moderate"))
    assert line["status"] == "not written"
    assert line["text"] == (
        "this assessment is not in the chart; the current one is RiskAssessment/ra-9 (assessed 2024-03-05 14:30 UTC)."
    )


def test_a_write_back_to_another_ehr_is_not_this_ehrs() -> None:
    _written(fhir_base_url="https://other-ehr.example.org/fhir")
    line = _line(sepsis_result())
    assert line["status"] == "not written" and "no RiskAssessment of this model is in the chart" in line["text"]
