"""Golden parity: the FHIR serving path and the PhysioNet training path give the same vector at the same hour."""

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.conf import settings

from scoring.features.extract import extract_features
from scoring.features.hourly import hourly_features
from scoring.features.physionet_fhir import row_time, stay_to_fhir
from scoring.features.spec import SEPSIS_FEATURES

START = datetime(2021, 3, 1, 6, 0, tzinfo=UTC)
SAMPLE = "physionet2019/physionet2019_sample_20patients.csv"
# birthDate is a date, so age from FHIR can differ from PhysioNet's Age by up to a day.
AGE_TOLERANCE_YEARS = 1.5 / 365.25


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return pd.read_csv(Path(str(settings.SHARED_DATA)) / SAMPLE)


@pytest.mark.parametrize("patient", ["p000001", "p000009", "p000011", "p000012", "p000056"])
def test_fhir_vector_equals_training_vector(sample: pd.DataFrame, patient: str) -> None:
    stay = sample[sample["patient_id"] == patient].reset_index(drop=True)
    assert len(stay) > 0, f"{patient} not in the sample"
    training = hourly_features(stay, SEPSIS_FEATURES)
    resources = stay_to_fhir(patient, stay.to_dict("records"), START)
    names = [f.name for f in SEPSIS_FEATURES]
    age = names.index("age_years")
    for hour in sorted({0, 3, 7, len(stay) // 2, len(stay) - 1}):
        fhir = np.array(extract_features(SEPSIS_FEATURES, resources, row_time(START, hour)).values)
        assert abs(fhir[age] - training[hour, age]) <= AGE_TOLERANCE_YEARS
        fhir[age] = training[hour, age]
        mismatch = [
            (names[j], fhir[j], training[hour, j])
            for j in range(len(names))
            if not np.allclose(fhir[j], training[hour, j], rtol=0, atol=1e-9, equal_nan=True)
        ]
        assert mismatch == [], f"{patient} hour {hour}: {mismatch[:5]}"


def test_extraction_never_reads_past_as_of(sample: pd.DataFrame) -> None:
    stay = sample[sample["patient_id"] == "p000009"].reset_index(drop=True)
    resources = stay_to_fhir("p000009", stay.to_dict("records"), START)
    early = extract_features(SEPSIS_FEATURES, resources, row_time(START, 5))
    truncated = [
        r
        for r in resources
        if r["resourceType"] != "Observation" or datetime.fromisoformat(r["effectiveDateTime"]) <= row_time(START, 5)
    ]
    again = extract_features(SEPSIS_FEATURES, truncated, row_time(START, 5))
    np.testing.assert_array_equal(np.array(early.values), np.array(again.values))
