"""Reads of fhirapp: the latest write-back of a patient's score."""
from config.keys import pseudonymize
from fhirapp.models import WriteBack


def write_back_latest(*, patient_id: str, model_name: str) -> WriteBack | None:
    """The most recently updated write-back for this patient and model (the sidebar shows it), or None."""
    return (WriteBack.objects.filter(patient_pseudonym=pseudonymize(patient_id), model_name=model_name)
            .order_by("-updated_at", "-id").first())
