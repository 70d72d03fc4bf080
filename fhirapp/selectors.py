"""Reads of fhirapp: the write-back of the assessment a surface shows, and the latest of a patient's score."""

from dataclasses import dataclass

from config.keys import pseudonymize
from fhirapp.models import WriteBack
from fhirapp.resources import Assessment
from fhirapp.services.writeback import write_back_key
from fhirapp.services.writeback_policy import current_text, last_written


def write_back_latest(*, patient_id: str, model_name: str) -> WriteBack | None:
    """The most recently updated write-back for this patient and model (the sidebar shows it), or None."""
    return (
        WriteBack.objects.filter(patient_pseudonym=pseudonymize(patient_id), model_name=model_name)
        .order_by("-updated_at", "-id")
        .first()
    )


@dataclass(frozen=True, slots=True)
class ShownWriteBack:
    """The chart state of the assessment a surface shows: its own write-back, or the one that is current."""

    status: str  # the write-back's status when this very assessment was written, else "not written"
    write_back: WriteBack | None  # this assessment's write-back, else the current one in the chart (or None)
    text: str


def write_back_of_shown(
    *, result: Assessment, patient_id: str, encounter_id: str | None, fhir_base_url: str
) -> ShownWriteBack:
    """The write-back of exactly this assessment (same model@version, inputs digest, encounter and EHR), or
    which written RiskAssessment is current when this one was not written (never another score's status)."""
    base = fhir_base_url.rstrip("/")
    key = write_back_key(
        fhir_base_url=base,
        model_name=result.model_name,
        model_version=result.model_version,
        patient_id=patient_id,
        encounter_id=encounter_id,
        input_digest=result.input_digest,
    )
    own = WriteBack.objects.filter(idempotency_key=key).first()
    if own is not None:
        return ShownWriteBack(str(own.status), own, f"this assessment: {own.status}")
    current = last_written(
        fhir_base_url=base,
        patient_pseudonym=pseudonymize(patient_id),
        model_name=result.model_name,
        encounter_id=encounter_id or "",
    )
    return ShownWriteBack("not written", current, "this assessment is not in the chart; " + current_text(current))
