"""A population chunk is scored in one batch per model version (one ONNX call, one exact TreeSHAP call) and
gives every patient exactly what the per-patient path of the CDS door gives: value, band, drivers, digest."""

from typing import Any

import pytest

from population.models import PopulationRun
from population.services import runs
from population.services.data import chunk_path, chunk_patients
from population.services.scoring import patient_snapshot
from scoring.services import score_many_with_shadows, score_with_shadows
from tests.population.conftest import MODELS

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_batch_of_a_chunk_equals_one_patient_at_a_time(ehr: dict[str, Any]) -> None:
    run = runs.run_start(cohort=ehr["cohort"], since="full")
    run.refresh_from_db()
    assert run.status == PopulationRun.Status.COMPLETED and run.transaction_time is not None
    as_of = run.transaction_time
    compared = scored = 0
    for number in range(run.chunks_total):
        snapshots = [patient_snapshot(p, r, as_of) for p, r in chunk_patients(chunk_path(run, number)).items()]
        shares = [(s.patient_id, s.resources) for s in snapshots]
        for model in MODELS:
            batch = score_many_with_shadows(model_name=model, patients=shares, as_of=as_of)
            for (pid, resources), results in zip(shares, batch, strict=True):
                one = score_with_shadows(
                    model_name=model, resources=resources, as_of=as_of, patient_id=pid, audit=False
                )
                assert results == one  # every field: probability, band, drivers (SHAP values), digest, reasons
                compared += 1
                scored += results[0].scored and model == "sepsis"
    assert compared == 4 * len(MODELS)
    assert scored >= 2  # the batch really ran the model (not only refusals)


def test_a_batch_with_a_refused_patient_scores_the_others(ehr: dict[str, Any]) -> None:
    run = runs.run_start(cohort=ehr["cohort"], since="full")
    run.refresh_from_db()
    as_of = run.transaction_time
    assert as_of is not None
    shares = [(p, r) for p, r in chunk_patients(chunk_path(run, 0)).items()]
    empty = ("nobody", [{"resourceType": "Patient", "id": "nobody"}])
    batch = score_many_with_shadows(model_name="sepsis", patients=[empty, *shares], as_of=as_of)
    alone = score_many_with_shadows(model_name="sepsis", patients=shares, as_of=as_of)
    assert not batch[0][0].scored and batch[0][0].missing
    assert batch[1:] == alone
