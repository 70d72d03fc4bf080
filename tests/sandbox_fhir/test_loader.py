"""`load_sandbox_data`: PhysioNet stays and Synthea bundles from the real shared data, idempotent."""

import io
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from django.conf import settings
from django.core.management import call_command

from sandbox_ehr.fhir.loader import physionet
from sandbox_ehr.fhir.loader.service import LoadReport, physionet_load, synthea_load
from sandbox_ehr.fhir.models import FhirResource, FhirResourceHistory
from sandbox_ehr.fhir.selectors import resource_get
from scoring.features.spec import OBSERVATION_BY_COLUMN

DATA = Path(settings.SHARED_DATA)
SET_B = DATA / "physionet2019" / "physionet2019_training_setB.csv.gz"
SYNTHEA = DATA / "synthea" / "synthea_r4_inpatient_bundles.tar.gz"
ANCHOR = datetime(2025, 1, 15, 12, tzinfo=UTC)


def _snapshot() -> list[tuple[str, str, int, datetime]]:
    return sorted(FhirResource.objects.values_list("resource_type", "resource_id", "version_id", "last_updated"))


@pytest.fixture
def two_bundles(tmp_path: Path) -> Path:
    """A tarball with the two smallest real Synthea bundles."""
    with tarfile.open(SYNTHEA, "r:gz") as source:
        members = sorted((m for m in source.getmembers() if m.isfile()), key=lambda m: m.size)[:2]
        payloads = [(m, source.extractfile(m).read()) for m in members]  # type: ignore[union-attr]
    target = tmp_path / "bundles.tar.gz"
    with tarfile.open(target, "w:gz") as out:
        for member, payload in payloads:
            out.addfile(member, io.BytesIO(payload))
    return target


class SelectionTests:
    def test_selection_is_deterministic_and_mixed(self) -> None:
        stays = physionet.stays_select(SET_B, 6)
        assert [s.patient for s in stays] == [s.patient for s in physionet.stays_select(SET_B, 6)]
        assert sum(s.septic for s in stays) == 3 and len(stays) == 6


@pytest.mark.django_db
class PhysioNetLoadTests:
    def test_stays_become_patient_encounters_and_coded_observations(self) -> None:
        report = LoadReport()
        physionet_load(SET_B, 2, report, anchor=ANCHOR, progress=False)
        assert report.stays_loaded == 2
        stay = physionet.stays_select(SET_B, 2)[0]
        pid = physionet.patient_fhir_id(stay.patient)
        patient = orjson.loads(resource_get("Patient", pid).content)
        assert patient["name"][0]["text"] == f"PhysioNet {stay.patient}"
        assert patient["gender"] == ("male" if stay.rows[0]["Gender"] == "1" else "female")
        icu = orjson.loads(resource_get("Encounter", f"{pid}-icu").content)
        last = max(float(r["ICULOS"]) for r in stay.rows)
        assert icu["class"]["code"] == "IMP" and icu["location"][0]["location"]["display"]
        assert icu["period"]["start"] == (ANCHOR - timedelta(hours=last)).isoformat().replace("+00:00", "Z")
        measured = sum(1 for r in stay.rows for c in OBSERVATION_BY_COLUMN if r[c] != "")
        rows = FhirResource.objects.filter(resource_type="Observation", patient_id=pid)
        assert rows.count() == measured
        starts = list(rows.values_list("date_start", flat=True))
        assert None not in starts and max(filter(None, starts)) == ANCHOR
        hr_row = next(r for r in stay.rows if r["HR"] != "")
        hr = orjson.loads(resource_get("Observation", f"{pid}-h{hr_row['hour']}-hr").content)
        spec = OBSERVATION_BY_COLUMN["HR"]
        assert hr["code"]["coding"][0] == {"system": "http://loinc.org", "code": spec.loinc, "display": spec.display}
        assert hr["valueQuantity"]["code"] == spec.unit and hr["valueQuantity"]["value"] == float(hr_row["HR"])
        assert hr["category"][0]["coding"][0]["code"] == spec.category

    def test_a_septic_stay_has_its_sepsis_condition_at_onset(self) -> None:
        physionet_load(SET_B, 2, LoadReport(), anchor=ANCHOR, progress=False)
        septic, clear = sorted(physionet.stays_select(SET_B, 2), key=lambda s: not s.septic)
        pid = physionet.patient_fhir_id(septic.patient)
        condition = orjson.loads(resource_get("Condition", f"{pid}-sepsis").content)
        first = min(float(r["ICULOS"]) for r in septic.rows if r["SepsisLabel"] == "1")
        last = max(float(r["ICULOS"]) for r in septic.rows)
        onset = ANCHOR - timedelta(hours=last) + timedelta(hours=first + 6)  # SepsisLabel leads onset by 6 h
        assert (
            condition["code"]["coding"][0]["code"] == "91302008"
            and condition["subject"]["reference"] == f"Patient/{pid}"
        )
        assert condition["onsetDateTime"] == onset.isoformat().replace("+00:00", "Z") and onset <= ANCHOR
        other = physionet.patient_fhir_id(clear.patient)
        assert not FhirResource.objects.filter(resource_type="Condition", patient_id=other).exists()

    def test_rerun_changes_nothing(self) -> None:
        physionet_load(SET_B, 3, LoadReport(), anchor=ANCHOR, progress=False)
        before = _snapshot()
        report = LoadReport()
        physionet_load(SET_B, 3, report, anchor=ANCHOR + timedelta(hours=5), progress=False)
        assert (report.stays_loaded, report.stays_skipped) == (0, 3)
        assert _snapshot() == before


@pytest.mark.django_db
class SyntheaLoadTests:
    def test_bundles_load_with_stable_ids_and_rerun_is_a_no_op(self, two_bundles: Path) -> None:
        report = LoadReport()
        synthea_load(two_bundles, report, anchor=ANCHOR, progress=False)
        assert report.bundles_loaded == 2 and report.resources_written == FhirResource.objects.count()
        patient = FhirResource.objects.filter(resource_type="Patient").first()
        assert patient is not None
        observations = FhirResource.objects.filter(resource_type="Observation", patient_id=patient.resource_id)
        assert observations.exists()
        assert orjson.loads(observations[0].content)["subject"] == {"reference": f"Patient/{patient.resource_id}"}
        before = _snapshot()
        again = LoadReport()
        synthea_load(two_bundles, again, anchor=ANCHOR + timedelta(hours=5), progress=False)
        assert (again.bundles_loaded, again.bundles_skipped) == (0, 2)
        assert _snapshot() == before and not FhirResourceHistory.objects.exists()


@pytest.mark.django_db
def test_command_runs_and_reports(tmp_path: Path) -> None:
    out = io.StringIO()
    call_command("load_sandbox_data", "--physionet", "2", "--no-synthea", stdout=out, verbosity=0)
    assert "2 PhysioNet stays loaded" in out.getvalue()
    call_command("load_sandbox_data", "--physionet", "2", "--no-synthea", stdout=out, verbosity=0)
    assert "(2 already there)" in out.getvalue()


@pytest.mark.django_db
def test_reshift_reloads_the_stays_ending_now() -> None:
    physionet_load(SET_B, 2, LoadReport(), anchor=ANCHOR, progress=False)
    stay = physionet.stays_select(SET_B, 1)[0]
    pid = physionet.patient_fhir_id(stay.patient)
    FhirResource.objects.filter(resource_type="Patient", resource_id=pid).update(version_id=2)
    count = FhirResource.objects.count()
    call_command(
        "load_sandbox_data", "--physionet", "2", "--no-synthea", "--reshift", stdout=io.StringIO(), verbosity=0
    )
    assert FhirResource.objects.count() == count
    assert resource_get("Patient", pid).version_id == 1
    starts = list(FhirResource.objects.filter(patient_id=pid).values_list("date_start", flat=True))
    assert None not in starts
    newest = max(filter(None, starts))
    now = datetime.now(UTC)
    assert now - timedelta(hours=1) <= newest <= now


def _record_end(patient_id: str) -> datetime:
    """The later of the last Encounter's end and the date of death."""
    rows = FhirResource.objects.filter(resource_type="Encounter", patient_id=patient_id)
    ends = [datetime.fromisoformat(orjson.loads(r.content)["period"]["end"]) for r in rows]
    died = orjson.loads(resource_get("Patient", patient_id).content).get("deceasedDateTime")
    return max(ends + ([datetime.fromisoformat(died)] if died else []))


@pytest.mark.django_db
def test_synthea_bundles_are_stored_shifted_to_end_before_the_anchor(two_bundles: Path) -> None:
    synthea_load(two_bundles, LoadReport(), anchor=ANCHOR, progress=False)
    patients = FhirResource.objects.filter(resource_type="Patient").values_list("resource_id", flat=True)
    assert len(patients) == 2
    for pid in patients:  # the two records end together, whatever year they ended in
        assert ANCHOR - timedelta(days=30) < _record_end(pid) <= ANCHOR - timedelta(hours=1)


@pytest.mark.django_db
def test_reshift_reloads_the_synthea_patients_ending_now(two_bundles: Path, tmp_path: Path) -> None:
    (tmp_path / "synthea").mkdir()
    (tmp_path / "synthea" / SYNTHEA.name).write_bytes(two_bundles.read_bytes())
    synthea_load(two_bundles, LoadReport(), anchor=ANCHOR, progress=False)
    count = FhirResource.objects.count()
    pid = FhirResource.objects.filter(resource_type="Patient").values_list("resource_id", flat=True)[0]
    stale = ANCHOR - timedelta(days=400)
    FhirResource.objects.create(
        resource_type="RiskAssessment", resource_id="written-back", patient_id=pid, last_updated=stale, content="{}"
    )  # what the product wrote for the patient
    out = io.StringIO()
    call_command(
        "load_sandbox_data", "--physionet", "0", "--reshift", "--data-dir", str(tmp_path), stdout=out, verbosity=0
    )
    assert "2 Synthea bundles loaded (0 already there)" in out.getvalue()
    assert FhirResource.objects.count() == count and not FhirResource.objects.filter(resource_id="written-back")
    now = datetime.now(UTC)
    assert now - timedelta(hours=2) <= _record_end(pid) <= now


@pytest.mark.django_db
def test_reanchor_after_reloads_only_data_loaded_earlier() -> None:
    """`make demo` a day later loads the patients again ending now; within the hour it changes nothing."""
    args = ("load_sandbox_data", "--physionet", "2", "--no-synthea", "--reanchor-after", "1")
    call_command(*args, stdout=io.StringIO(), verbosity=0)
    fresh = _snapshot()
    call_command(*args, stdout=io.StringIO(), verbosity=0)
    assert _snapshot() == fresh
    day_ago = datetime.now(UTC) - timedelta(days=1)
    FhirResource.objects.filter(resource_type="Patient").update(last_updated=day_ago)
    out = io.StringIO()
    call_command(*args, stdout=out, verbosity=0)
    assert "removed" in out.getvalue() and "2 PhysioNet stays loaded" in out.getvalue()
    assert FhirResource.objects.filter(resource_type="Patient", last_updated__lte=day_ago).count() == 0


@pytest.mark.django_db
def test_patient_list_marks_septic_in_hospital_and_deceased(two_bundles: Path) -> None:
    from sandbox_ehr.auth.selectors import patient_list

    physionet_load(SET_B, 2, LoadReport(), anchor=ANCHOR, progress=False)
    synthea_load(two_bundles, LoadReport(), anchor=ANCHOR, progress=False)
    rows, _ = patient_list()
    stays = [r for r in rows if r.source == "PhysioNet 2019"]
    assert sorted(r.septic for r in stays) == [False, True] and all(r.in_hospital for r in stays)
    assert not any(r.septic for r in rows if r.source == "Synthea")
    from django.test import Client

    assert b"septic stay" in Client().get("/sandbox/ehr/").content
