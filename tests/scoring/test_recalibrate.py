"""`recalibrate_model`: the shipped sepsis trees recalibrated on real set-B stays; clear refusals that write nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from scoring.models import ModelVersion
from scoring.training.data import PHYSIONET_SET

SHIPPED = Path(settings.BASE_DIR) / "scoring" / "artifacts" / "sepsis"
READMISSION = Path(settings.BASE_DIR) / "scoring" / "artifacts" / "readmission"


def _latest(folder: Path) -> Path:
    return sorted(folder.iterdir())[-1]


@pytest.fixture(scope="session")
def site_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 3,000 stays of PhysioNet set B (real data), written as a site's export would be."""
    frame = pd.read_csv(Path(str(settings.SHARED_DATA)) / PHYSIONET_SET.format("B"), dtype={"patient_id": "str"})
    keep = frame["patient_id"].drop_duplicates().iloc[:3000]
    path = tmp_path_factory.mktemp("site") / "site_icu.csv"
    frame[frame["patient_id"].isin(keep)].to_csv(path, index=False)
    return path


def _run(*args: str) -> str:
    stdout = io.StringIO()
    call_command("recalibrate_model", "sepsis", *args, stdout=stdout)
    return stdout.getvalue()


@pytest.mark.django_db
class RecalibrateTests:
    def test_same_trees_new_calibration_measured_on_the_other_half(self, site_csv: Path, tmp_path: Path) -> None:
        base = _latest(SHIPPED)
        base_card = json.loads((base / "card.json").read_text())
        out = tmp_path / "site"
        text = _run(
            "--data",
            str(site_csv),
            "--model-version",
            "9.9.9-site",
            "--from",
            str(base),
            "--out",
            str(out),
            "--min-septic-stays",
            "20",
            "--register",
        )
        assert "site held-out ece" in text
        card = json.loads((out / "card.json").read_text())
        assert card["booster_sha256"] == base_card["booster_sha256"]  # the ranking is the original model's
        assert card["calibration"] != base_card["calibration"] and card["version"] == "9.9.9-site"
        site, original = card["metrics"]["external_site_heldout"], card["metrics"]["original_calibration_site_heldout"]
        assert site["auroc"] == pytest.approx(original["auroc"], abs=1e-12)  # a monotone map keeps the AUROC
        assert site["n_rows"] == original["n_rows"] > 0 and "reliability" in site
        assert set(card["metrics"]) >= {f"training_{k}" for k in base_card["metrics"]}
        rec = card["recalibration"]
        assert rec["base_version"] == base_card["version"] and rec["data_file"] == "site_icu.csv"
        assert rec["patients"]["fit"] + rec["patients"]["measure"] == 3000
        assert "site_icu.csv" in card["thresholds"]["criterion"] and "Recalibrated on" in card["limitations"]
        mv = ModelVersion.objects.get(name="sepsis", version="9.9.9-site")
        assert mv.status == "shadow" and mv.sha256 == card["sha256"]

    def test_missing_columns_are_named_and_nothing_is_written(self, site_csv: Path, tmp_path: Path) -> None:
        broken = tmp_path / "broken.csv"
        pd.read_csv(site_csv, nrows=50).drop(columns=["Lactate", "ICULOS"]).to_csv(broken, index=False)
        with pytest.raises(CommandError, match="lacks the column\\(s\\) ICULOS, Lactate"):
            _run(
                "--data",
                str(broken),
                "--model-version",
                "x",
                "--from",
                str(_latest(SHIPPED)),
                "--out",
                str(tmp_path / "out"),
            )
        assert not (tmp_path / "out").exists()
        labels = pd.read_csv(site_csv, nrows=50)
        labels.loc[3, "SepsisLabel"] = 2
        labels.to_csv(broken, index=False)
        with pytest.raises(CommandError, match="SepsisLabel must be 0 or 1 on every row"):
            _run(
                "--data",
                str(broken),
                "--model-version",
                "x",
                "--from",
                str(_latest(SHIPPED)),
                "--out",
                str(tmp_path / "out"),
            )
        assert not (tmp_path / "out").exists()

    def test_too_few_septic_stays_is_refused(self, site_csv: Path, tmp_path: Path) -> None:
        with pytest.raises(CommandError, match="at least 100000 septic stays in each half"):
            _run(
                "--data",
                str(site_csv),
                "--model-version",
                "x",
                "--from",
                str(_latest(SHIPPED)),
                "--out",
                str(tmp_path / "out"),
                "--min-septic-stays",
                "100000",
            )
        assert not (tmp_path / "out").exists()

    def test_only_the_sepsis_model_and_never_over_existing_artifacts(self, site_csv: Path, tmp_path: Path) -> None:
        with pytest.raises(CommandError, match="not the sepsis model"):
            _run(
                "--data",
                str(site_csv),
                "--model-version",
                "x",
                "--from",
                str(_latest(READMISSION)),
                "--out",
                str(tmp_path / "out"),
            )
        with pytest.raises(CommandError, match="already holds artifacts"):
            _run(
                "--data",
                str(site_csv),
                "--model-version",
                "x",
                "--from",
                str(_latest(SHIPPED)),
                "--out",
                str(_latest(SHIPPED)),
            )

    def test_without_an_active_version_it_asks_which(self, site_csv: Path, tmp_path: Path) -> None:
        with pytest.raises(CommandError, match="no active version of 'sepsis'"):
            _run("--data", str(site_csv), "--model-version", "x", "--out", str(tmp_path / "out"))
