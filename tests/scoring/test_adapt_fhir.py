"""`adapt_model` on a FHIR site (a Bulk Data NDJSON export plus its outcomes): its rows and labels equal the
PhysioNet-layout rows of the same stays and, hour by hour, the vectors the serving door builds; the command adapts,
states what it read and registers the version as shadow; bad input is refused, by file and line, writing nothing."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from django.conf import settings
from django.core.management.base import CommandError

from scoring.artifact import sha256_file
from scoring.catalogue.sepsis import SEPSIS
from scoring.features.fhir_index import index_observations
from scoring.features.select import resources_for
from scoring.features.spec import SEPSIS_FEATURES
from scoring.models import ModelVersion
from scoring.training.adapt import halves
from scoring.training.site import site_read
from scoring.training.site_fhir_write import physionet_site_write, sepsis_condition
from tests.scoring.conftest import SAMPLE, adapt_command

START = datetime(2021, 3, 1, 6, 0, tzinfo=UTC)
FHIR_STAYS = 800  # set-B stays of the command's FHIR site: 45 septic, about 22 in each half
NAMES = [f.name for f in SEPSIS_FEATURES]
AGE = NAMES.index("age_years")
AGE_TOLERANCE_YEARS = 1.5 / 365.25  # birthDate is a date (tests/scoring/test_feature_parity.py)


def _read(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _write(path: Path, resources: list[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in resources))


def _resources(site: Path) -> list[dict[str, Any]]:
    return [r for kind in ("Patient", "Encounter", "Observation") for r in _read(site / f"{kind}.ndjson")]


def _patient(resource: dict[str, Any]) -> str:
    if resource["resourceType"] == "Patient":
        return str(resource["id"])
    return str(resource["subject"]["reference"]).removeprefix("Patient/")


def _copy(site: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(site, tmp_path / "site"))


def _stay_rows(site: Any, stay: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = site.stays.rows
    mine = rows.patients == stay
    return rows.x[mine], rows.y[mine], rows.hour[mine]


@pytest.fixture(scope="session")
def sample_site(tmp_path_factory: pytest.TempPathFactory, sample_frame: pd.DataFrame) -> Path:
    """The 20 sample stays as a FHIR site, outcomes as sepsis Conditions."""
    folder = tmp_path_factory.mktemp("fhir") / "sample"
    physionet_site_write(sample_frame, folder, START)
    return folder


@pytest.fixture(scope="session")
def fhir_site(tmp_path_factory: pytest.TempPathFactory, set_b: pd.DataFrame) -> Path:
    """The first FHIR_STAYS set-B stays as a FHIR site."""
    ids = set_b["patient_id"].drop_duplicates().iloc[:FHIR_STAYS]
    frame = set_b[set_b["patient_id"].isin(ids)].sort_values(["patient_id", "hour"])
    folder = tmp_path_factory.mktemp("fhir") / "set_b"
    physionet_site_write(frame, folder, START)
    return folder


@pytest.fixture(scope="session")
def small_site(tmp_path_factory: pytest.TempPathFactory, set_b: pd.DataFrame) -> Path:
    """The first 40 set-B stays as a FHIR site (none of them a training stay of the tiny base)."""
    ids = set_b["patient_id"].drop_duplicates().iloc[:40]
    folder = tmp_path_factory.mktemp("fhir") / "small"
    physionet_site_write(set_b[set_b["patient_id"].isin(ids)].sort_values(["patient_id", "hour"]), folder, START)
    return folder


class FhirSiteParityTests:
    def test_rows_and_labels_equal_the_physionet_layout(self, sample_frame: pd.DataFrame, sample_site: Path) -> None:
        physionet = site_read(Path(str(settings.SHARED_DATA)) / SAMPLE)
        fhir = site_read(sample_site)
        assert fhir.stays.counts() == physionet.stays.counts() | {"rows": fhir.stays.counts()["rows"]}
        for pid, stay in sample_frame.groupby("patient_id"):
            x, y, hour = _stay_rows(physionet, str(pid))
            fx, fy, fhour = _stay_rows(fhir, f"{pid}-icu")
            first = int(stay["ICULOS"].iloc[0])  # the Encounter starts ICULOS_0 h before the first row
            assert fhour.tolist() == list(range(1, int(stay["ICULOS"].iloc[-1]) + 1))
            assert not fy[: first - 1].any()  # the FHIR stay's hours before the table's first row
            fx, fy = fx[first - 1 :], fy[first - 1 :]
            assert np.array_equal(fy, y), pid
            assert np.abs(fx[:, AGE] - x[:, AGE]).max() <= AGE_TOLERANCE_YEARS
            fx[:, AGE] = x[:, AGE]
            assert np.array_equal(fx, x, equal_nan=True), pid
        prints = fhir.stays.prints.rename(lambda stay: stay.removesuffix("-icu"))
        assert prints.sort_index().equals(physionet.stays.prints.sort_index())

    def test_an_outcomes_file_gives_the_labels_conditions_give(
        self, sample_frame: pd.DataFrame, sample_site: Path, tmp_path: Path
    ) -> None:
        physionet_site_write(sample_frame, tmp_path / "file", START, outcomes="file")
        by_file, by_conditions = site_read(tmp_path / "file"), site_read(sample_site)
        assert np.array_equal(by_file.stays.rows.y, by_conditions.stays.rows.y)
        assert by_file.stays.counts()["septic_stays"] == 10
        assert by_file.facts["labels"].startswith("outcomes.csv") and "outcomes.csv" in by_file.files

    def test_rows_are_what_serving_builds_at_each_hour(self, sample_site: Path, tmp_path: Path) -> None:
        """Serving selects the model's share at each as-of and indexes it (scoring.services._prepare_version); the
        site selects once per stay. Observations long before the stay, just before it and after it included."""
        site = _copy(sample_site, tmp_path)
        observations = _read(site / "Observation.ndjson")
        first = next(o for o in observations if o["subject"]["reference"] == "Patient/p000009")
        extra = [(-100, 9.0), (-10, 4.0), (500, 1.0)]  # hours from the first row: beyond the look-back, within, after
        for n, (offset, value) in enumerate(extra):
            when = (START + timedelta(hours=offset)).isoformat().replace("+00:00", "Z")
            quantity = first["valueQuantity"] | {"value": value}
            observations.append(first | {"id": f"extra-{n}", "effectiveDateTime": when, "valueQuantity": quantity})
        _write(site / "Observation.ndjson", observations)
        rows = site_read(site)
        extractor = SEPSIS.extractor
        assert extractor is not None
        for pid in ("p000009", "p000001"):
            resources = [r for r in _resources(site) if _patient(r) == pid]
            encounter = next(r for r in resources if r["resourceType"] == "Encounter")
            start = datetime.fromisoformat(encounter["period"]["start"])
            x, _y, hours = _stay_rows(rows, f"{pid}-icu")
            for k, row in zip(hours, x, strict=True):
                at = start + timedelta(hours=float(k))
                mine = resources_for(resources, SEPSIS.requirements, at)
                served = extractor(mine, at, index_observations(mine, at.timestamp()), f"{pid}-icu")
                assert np.array_equal(np.array(served.values, dtype=np.float32), row, equal_nan=True), (pid, k)


class FhirSiteReadingTests:
    def test_an_onset_within_6_h_after_the_stay_marks_its_last_hours(self, small_site: Path, tmp_path: Path) -> None:
        site = _copy(small_site, tmp_path)
        encounter = _read(site / "Encounter.ndjson")[0]
        pid = encounter["subject"]["reference"].removeprefix("Patient/")
        end = datetime.fromisoformat(encounter["period"]["end"])
        others = [c for c in _read(site / "Condition.ndjson") if c["subject"]["reference"] != f"Patient/{pid}"]
        _write(site / "Condition.ndjson", [*others, sepsis_condition(pid, end + timedelta(hours=3))])
        _x, y, hours = _stay_rows(site_read(site), encounter["id"])
        assert y.sum() == 4 and hours[y == 1].tolist() == hours[-4:].tolist()  # rows from end - 3 h to the end

    def test_stays_in_progress_short_or_not_acute_are_set_aside_and_counted(
        self, small_site: Path, tmp_path: Path
    ) -> None:
        site = _copy(small_site, tmp_path)
        encounters = _read(site / "Encounter.ndjson")
        septic = {c["subject"]["reference"] for c in _read(site / "Condition.ndjson")}
        quiet = [e for e in encounters if e["subject"]["reference"] not in septic]
        del quiet[0]["period"]["end"]
        quiet[1]["period"]["end"] = quiet[1]["period"]["start"]
        quiet[2]["class"] = quiet[2]["class"] | {"code": "AMB"}
        _write(site / "Encounter.ndjson", encounters)
        read = site_read(site)
        assert read.stays.counts()["stays"] == 37
        assert read.facts["set_aside"] == {
            "encounters not acute care, or void": 1,
            "stays in progress (no period.end)": 1,
            "stays shorter than an hour": 1,
        }

    def test_a_patients_stays_stay_on_one_side_of_the_split(self, small_site: Path, tmp_path: Path) -> None:
        site = _copy(small_site, tmp_path)
        septic = {c["subject"]["reference"] for c in _read(site / "Condition.ndjson")}
        encounters = _read(site / "Encounter.ndjson")
        moved = [e for e in encounters if e["subject"]["reference"] not in septic][:4]
        owner = moved[0]["subject"]
        olds = {e["subject"]["reference"] for e in moved}
        for resource in [*encounters, *(observations := _read(site / "Observation.ndjson"))]:
            if resource["subject"]["reference"] in olds:
                resource["subject"] = owner  # three more stays of the first patient, their Observations too
        _write(site / "Encounter.ndjson", encounters)
        _write(site / "Observation.ndjson", observations)
        read = site_read(site)
        assert read.stays.counts()["stays"] == 40 and read.stays.counts()["patients"] == 37
        stays = {e["id"] for e in moved}
        for seed in range(5):
            adapt, validate = halves(read.stays, seed)
            assert stays <= set(adapt.rows.patients) or stays <= set(validate.rows.patients)


@pytest.mark.django_db
class FhirSiteCommandTests:
    def test_adapts_a_fhir_site_and_states_what_it_read(
        self, tiny_base: Path, fhir_site: Path, set_b: pd.DataFrame, tmp_path: Path
    ) -> None:
        out = tmp_path / "v"
        text = adapt_command(
            "--data", str(fhir_site), "--method", "continue-training", "--from", str(tiny_base), "--out", str(out),
            "--model-version", "0.0.2-fhir", "--min-events", "20",
        )  # fmt: skip
        assert "registered sepsis 0.0.2-fhir (shadow)" in text and "site held-out auroc" in text
        card = json.loads((out / "card.json").read_text())
        site = card["adaptation"]["site_data"]
        assert site["layout"] == "FHIR Bulk Data export (NDJSON)" and site["labels"].startswith("Condition.ndjson")
        names = ["Condition.ndjson", "Encounter.ndjson", "Observation.ndjson", "Patient.ndjson"]
        assert site["file_sha256"] == {n: sha256_file(fhir_site / n) for n in names} and site["files"] == names
        assert (site["stays"], site["patients"], site["septic_stays"]) == (FHIR_STAYS, FHIR_STAYS, 45)
        assert not any(site["set_aside"].values()) and site["dates"].startswith("stays from 2021-")
        ids = set_b["patient_id"].drop_duplicates().iloc[:FHIR_STAYS]
        table = set_b[set_b["patient_id"].isin(ids)]
        table.to_csv(tmp_path / "site.csv", index=False)
        _, held_out = halves(site_read(tmp_path / "site.csv").stays)
        validation = card["adaptation"]["validation"]
        assert (validation["stays"], validation["septic_stays"]) == (
            held_out.counts()["stays"],
            held_out.counts()["septic_stays"],
        )
        assert "FHIR Bulk Data export (NDJSON); labels from Condition.ndjson" in (out / "card.md").read_text()
        mv = ModelVersion.objects.get(name="sepsis", version="0.0.2-fhir")
        assert mv.status == "shadow" and mv.change_log.get().kind == "adaptation"


@pytest.mark.django_db
class FhirSiteRefusalTests:
    def _refused(self, match: str, site: Path, tmp_path: Path, base: Path, *args: str) -> None:
        out = tmp_path / "out"
        with pytest.raises(CommandError, match=match):
            adapt_command("--data", str(site), "--method", "recalibrate", "--from", str(base), "--out", str(out), *args)
        assert not out.exists()

    def test_missing_files_and_bad_lines(self, small_site: Path, tiny_base: Path, tmp_path: Path) -> None:
        site = _copy(small_site, tmp_path)
        (site / "Observation.ndjson").rename(site / "obs.bak")
        self._refused("lacks Observation.ndjson", site, tmp_path, tiny_base)
        lines = (site / "obs.bak").read_bytes().splitlines(keepends=True)
        (site / "Observation.ndjson").write_bytes(b"".join([*lines[:2], b'{"resourceType": "Observ\n', *lines[2:]]))
        self._refused("Observation.ndjson line 3: not a JSON resource", site, tmp_path, tiny_base)
        patients = (site / "Patient.ndjson").read_bytes()
        (site / "Patient.ndjson").write_bytes(lines[0] + patients)
        self._refused(
            "Patient.ndjson line 1: resourceType 'Observation' in a file of Patients", site, tmp_path, tiny_base
        )

    def test_an_observation_without_a_time(self, small_site: Path, tiny_base: Path, tmp_path: Path) -> None:
        site = _copy(small_site, tmp_path)
        observations = _read(site / "Observation.ndjson")
        del observations[4]["effectiveDateTime"]
        _write(site / "Observation.ndjson", observations)
        self._refused(
            f"Observation.ndjson line 5: Observation/{observations[4]['id']} has no effective time",
            site,
            tmp_path,
            tiny_base,
        )

    def test_no_stays(self, small_site: Path, tiny_base: Path, tmp_path: Path) -> None:
        site = _copy(small_site, tmp_path)
        (site / "Encounter.ndjson").write_bytes(b"")
        self._refused("joins no stay: the patient has no acute-care Encounter", site, tmp_path, tiny_base)
        (site / "Condition.ndjson").write_bytes(b"")
        self._refused("no finished stay of an hour or more", site, tmp_path, tiny_base)
        (site / "Condition.ndjson").unlink()
        self._refused("holds no outcomes: add outcomes.csv", site, tmp_path, tiny_base)

    def test_labels_that_join_no_stay(self, small_site: Path, tiny_base: Path, tmp_path: Path) -> None:
        site = _copy(small_site, tmp_path)
        conditions = _read(site / "Condition.ndjson")
        _write(site / "Condition.ndjson", [*conditions, sepsis_condition("nobody", START)])
        self._refused(
            f"Condition.ndjson line {len(conditions) + 1}: Condition/nobody-sepsis is about a patient who is not in",
            site, tmp_path, tiny_base,
        )  # fmt: skip
        encounter = _read(site / "Encounter.ndjson")[0]
        pid = encounter["subject"]["reference"].removeprefix("Patient/")
        for when in (
            START - timedelta(days=2),
            datetime.fromisoformat(encounter["period"]["end"]) + timedelta(hours=7),
        ):
            _write(site / "Condition.ndjson", [*conditions, sepsis_condition(pid, when)])
            self._refused(
                f"the sepsis onset at .* of Patient/{pid} lies outside each of their stays", site, tmp_path, tiny_base
            )
        (site / "Condition.ndjson").unlink()
        (site / "outcomes.csv").write_text("patient,model,label,time\nPatient/nobody,sepsis,1,2021-03-01T12:00:00Z\n")
        self._refused(
            "outcomes.csv: 1 sepsis row\\(s\\) name a patient who is not in Patient.ndjson", site, tmp_path, tiny_base
        )
        (site / "outcomes.csv").write_text("patient,model,label,time\nPatient/x,sepsis,2,2021-03-01T12:00:00Z\n")
        self._refused("outcomes.csv: 1 row\\(s\\) refused.* line 2: label must be 1 or 0", site, tmp_path, tiny_base)

    def test_too_few_septic_stays(self, small_site: Path, tiny_base: Path, tmp_path: Path) -> None:
        self._refused("Too few events: adaptation needs at least 100 septic stays", small_site, tmp_path, tiny_base)

    def test_training_stays_copies_and_leakage_by_content(
        self, sample_site: Path, small_site: Path, tiny_base: Path, tmp_path: Path
    ) -> None:
        self._refused("20 of 20 site stays are stays of the model's training set", sample_site, tmp_path, tiny_base)
        site = _copy(small_site, tmp_path)
        patient = _read(site / "Patient.ndjson")[0]
        pid = patient["id"]
        copied = [
            r | {"id": f"copy-{r['id']}", "subject": {"reference": "Patient/copy"}}
            for kind in ("Encounter", "Observation") for r in _read(site / f"{kind}.ndjson")
            if r["subject"]["reference"] == f"Patient/{pid}"
        ]  # fmt: skip
        _write(site / "Patient.ndjson", [*_read(site / "Patient.ndjson"), patient | {"id": "copy"}])
        for kind in ("Encounter", "Observation"):
            _write(
                site / f"{kind}.ndjson",
                [*_read(site / f"{kind}.ndjson"), *(r for r in copied if r["resourceType"] == kind)],
            )
        self._refused("2 stays are copies of one another", site, tmp_path, tiny_base)
        self._refused(
            "Leakage: 40 stay\\(s\\) are in both", small_site, tmp_path, tiny_base, "--validate-data", str(small_site)
        )
