"""`adapt_model`: each method on real set-B stays writes a loadable artifact that scores through the serving path,
with a card stating what local data it saw, registered as shadow; refusals (too few events, bad labels, leakage,
the training set as the site) write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.conf import settings
from django.core.management.base import CommandError

from scoring.artifact import Isotonic, calibration_from
from scoring.features.hourly import hourly_features
from scoring.features.physionet_fhir import row_time
from scoring.features.spec import SEPSIS_FEATURES
from scoring.models import ModelVersion
from scoring.services import score_patient
from scoring.services_registry import model_register
from scoring.training.adapt import REFIT_SEEDS
from scoring.training.site import site_read
from tests.scoring.conftest import SITE_STAYS, START, adapt_command, tiny_card

SHIPPED = Path(settings.BASE_DIR) / "scoring" / "artifacts" / "sepsis" / "1.1.2"


@pytest.fixture(scope="session")
def site_csv(tmp_path_factory: pytest.TempPathFactory, set_b: pd.DataFrame) -> Path:
    """Those stays written as a site's export would be."""
    path = tmp_path_factory.mktemp("site") / "site_icu.csv"
    set_b.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def adapted(tiny_base: Path, site_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every method run once on the site's stays through the command's pipeline (artifact folders)."""
    from scoring.training.adapt_site import Request, adapt_site
    from scoring.training.common import threads_set
    from scoring.training.publish import publish

    threads_set(1)
    root = tmp_path_factory.mktemp("adapted")
    for method in ("recalibrate", "isotonic", "continue-training", "refit"):
        request = Request(tiny_base, site_csv, method, min_events=20)
        publish(adapt_site(request, root / method), root / method, f"0.0.2-{method}")
    return {m: root / m for m in ("recalibrate", "isotonic", "continue-training", "refit")}


@pytest.mark.django_db
class AdaptModelTests:
    @pytest.mark.parametrize("method", ["recalibrate", "isotonic", "continue-training", "refit"])
    def test_each_method_writes_an_artifact_that_scores_through_serving(
        self, method: str, adapted: dict[str, Path], sample_frame: pd.DataFrame
    ) -> None:
        from scoring.features.physionet_fhir import stay_to_fhir
        from scoring.serving.registry import cache_clear, load

        folder = adapted[method]
        card = json.loads((folder / "card.json").read_text())
        seen = card["adaptation"]
        assert seen["method"] == method and seen["base_version"] == "0.0.1-base"
        assert seen["site_data"]["files"] == ["site_icu.csv"] and seen["site_data"]["stays"] == SITE_STAYS
        used, validation = seen["used_for_adaptation"], seen["validation"]
        assert used["stays"] + validation["stays"] == SITE_STAYS and not validation["seen_by_adaptation"]
        site, original = card["metrics"]["external_site_heldout"], card["metrics"]["original_site_heldout"]
        assert site["n_patients"] == original["n_patients"] == validation["stays"]
        assert {"auroc", "auprc", "utility", "ece"} <= set(site) and "female" in site["subgroups"]
        assert "## Local adaptation" in (folder / "card.md").read_text()
        cache_clear()
        mv = model_register(artifact_dir=str(folder), registered_by="test", status="active")
        stay = sample_frame[sample_frame["patient_id"] == "p000009"].reset_index(drop=True)
        resources = stay_to_fhir("p000009", stay.to_dict("records"), START)
        result = score_patient(model_name="sepsis", resources=resources, as_of=row_time(START, 30), patient_id="p9")
        assert result.scored and result.model_version == f"0.0.2-{method}"
        model = load("sepsis", mv.version, mv.artifact_path, mv.sha256)
        assert result.probability == pytest.approx(model.calibration.apply(float(result.margin or 0.0)), abs=1e-5)
        assert model.calibration == calibration_from(card["calibration"])
        cache_clear()

    def test_what_each_method_changed(self, adapted: dict[str, Path], tiny_base: Path) -> None:
        base = json.loads((tiny_base / "card.json").read_text())
        cards = {m: json.loads((f / "card.json").read_text()) for m, f in adapted.items()}
        assert cards["recalibrate"]["booster_sha256"] == base["booster_sha256"]  # the same trees
        assert isinstance(calibration_from(cards["isotonic"]["calibration"]), Isotonic)
        assert cards["isotonic"]["booster_sha256"] == base["booster_sha256"]
        grown = cards["continue-training"]["adaptation"]
        assert grown["trees_before"] == 20 and cards["continue-training"]["trees"] == 20 + grown["trees_added"]
        refit = cards["refit"]
        assert refit["adaptation"]["training_stays"] > 0 and "site_icu.csv" in refit["training_data"]["files"]
        seeds = refit["adaptation"]["trees_per_seed"]  # one booster averaging REFIT_SEEDS grown with their own seeds
        assert refit["adaptation"]["seeds"] == len(seeds) == REFIT_SEEDS and refit["trees"] == sum(seeds)
        assert f"| boosters averaged | {REFIT_SEEDS}, each grown" in (adapted["refit"] / "card.md").read_text()
        for card in cards.values():
            recal = card["metrics"]
            assert recal["original_site_heldout"]["n_rows"] == recal["external_site_heldout"]["n_rows"]

    def test_registered_as_shadow_with_a_change_log_entry(
        self, tiny_base: Path, site_csv: Path, tmp_path: Path
    ) -> None:
        text = adapt_command(
            "--data",
            str(site_csv),
            "--method",
            "recalibrate",
            "--from",
            str(tiny_base),
            "--out",
            str(tmp_path / "v"),
            "--model-version",
            "0.0.3",
            "--min-events",
            "20",
            "--by",
            "site-team",
            "--reason",
            "set B over-states risk",
        )
        assert "site held-out auroc" in text and "(original) ->" in text and "registered sepsis 0.0.3 (shadow)" in text
        mv = ModelVersion.objects.get(name="sepsis", version="0.0.3")
        assert mv.status == "shadow" and mv.registered_by == "site-team"
        entry = mv.change_log.get()
        assert entry.kind == "adaptation" and entry.reason == "set B over-states risk"
        assert "recalibrate" in entry.what and entry.evidence["validation"]["stays"] > 0


@pytest.mark.django_db
class AdaptRefusalTests:
    def _refused(self, match: str, out: Path, *args: str) -> None:
        with pytest.raises(CommandError, match=match):
            adapt_command("--out", str(out), "--model-version", "x", *args)
        assert not out.exists()

    def test_too_few_events(self, tiny_base: Path, site_csv: Path, tmp_path: Path) -> None:
        self._refused(
            "Too few events: adaptation needs at least 100 septic stays",
            tmp_path / "o",
            "--data",
            str(site_csv),
            "--method",
            "recalibrate",
            "--from",
            str(tiny_base),
            "--stays",
            "300",
        )

    def test_bad_labels(self, tiny_base: Path, set_b: pd.DataFrame, tmp_path: Path) -> None:
        broken = set_b.copy()
        broken.loc[broken.index[3], "SepsisLabel"] = 2
        broken.to_csv(tmp_path / "two.csv", index=False)
        self._refused(
            "SepsisLabel must be 0 or 1",
            tmp_path / "o",
            "--data",
            str(tmp_path / "two.csv"),
            "--method",
            "isotonic",
            "--from",
            str(tiny_base),
        )
        septic = set_b.groupby("patient_id")["SepsisLabel"].max()
        stay = septic[septic == 1].index[0]
        falls = set_b.copy()
        last = falls.index[falls["patient_id"] == stay][-1]
        falls.loc[last, "SepsisLabel"] = 0
        falls.to_csv(tmp_path / "falls.csv", index=False)
        self._refused(
            f"falls from 1 back to 0 within 1 stay\\(s\\) \\(first: {stay}\\)",
            tmp_path / "o",
            "--data",
            str(tmp_path / "falls.csv"),
            "--method",
            "isotonic",
            "--from",
            str(tiny_base),
        )

    def test_leakage_between_halves(self, tiny_base: Path, set_b: pd.DataFrame, site_csv: Path, tmp_path: Path) -> None:
        first = set_b[set_b["patient_id"] == set_b["patient_id"].iloc[0]]
        set_b.iloc[: len(first) * 0].to_csv(tmp_path / "empty.csv", index=False)
        first.to_csv(tmp_path / "validate.csv", index=False)
        self._refused(
            "Leakage: 1 stay\\(s\\) are in both",
            tmp_path / "o",
            "--data",
            str(site_csv),
            "--validate-data",
            str(tmp_path / "validate.csv"),
            "--method",
            "recalibrate",
            "--from",
            str(tiny_base),
        )
        renamed = first.assign(patient_id="site-copy-1")
        renamed.to_csv(tmp_path / "renamed.csv", index=False)
        self._refused(
            "same values, other ids",
            tmp_path / "o",
            "--data",
            str(site_csv),
            "--validate-data",
            str(tmp_path / "renamed.csv"),
            "--method",
            "recalibrate",
            "--from",
            str(tiny_base),
        )
        pd.concat([set_b, renamed]).to_csv(tmp_path / "twice.csv", index=False)
        self._refused(
            "2 stays are copies of one another",
            tmp_path / "o",
            "--data",
            str(tmp_path / "twice.csv"),
            "--method",
            "recalibrate",
            "--from",
            str(tiny_base),
        )

    def test_the_training_set_as_the_site(self, tmp_path: Path) -> None:
        data = Path(str(settings.SHARED_DATA)) / "physionet2019"
        folder = tmp_path / "export"
        folder.mkdir()
        (folder / "a.csv.gz").symlink_to(data / "physionet2019_training_setA.csv.gz")
        self._refused(
            "holds the model's training set \\(sepsis 1.1.2\\)",
            tmp_path / "o",
            "--data",
            str(folder),
            "--method",
            "recalibrate",
            "--from",
            str(SHIPPED),
        )
        self._refused(
            "20 of 20 site stays are stays of the model's training set",
            tmp_path / "o",
            "--data",
            str(data / "physionet2019_sample_20patients.csv"),
            "--method",
            "recalibrate",
            "--from",
            str(SHIPPED),
        )

    def test_refit_needs_the_training_set(self, site_csv: Path, tmp_path: Path, sample_frame: pd.DataFrame) -> None:
        from scoring.training.publish import publish

        card = tiny_card(sample_frame)
        card["training_data"]["sha256"] = {"A": "0" * 64}
        publish(card, tmp_path / "b", "0.0.1-gone")
        self._refused(
            "refit pools the site's stays with the model's training set",
            tmp_path / "o",
            "--data",
            str(site_csv),
            "--method",
            "refit",
            "--from",
            str(tmp_path / "b"),
        )

    def test_without_an_active_version_it_asks_which(self, site_csv: Path, tmp_path: Path) -> None:
        self._refused("no active version of 'sepsis'", tmp_path / "o", "--data", str(site_csv), "--method", "refit")


class SiteReadTests:
    def test_a_folder_of_challenge_psv_files(self, sample_frame: pd.DataFrame, tmp_path: Path) -> None:
        for pid, stay in list(sample_frame.groupby("patient_id"))[:3]:
            stay.drop(columns=["patient_id", "hour", "source_set"]).to_csv(
                tmp_path / f"{pid}.psv", sep="|", index=False
            )
        site = site_read(tmp_path)
        assert site.stays.counts()["stays"] == 3 and len(site.files) == 3 and len(site.facts["sha256"]) == 64
        rows = site.stays.rows
        pid = site.files[0][:-4]
        mine = rows.patients == pid
        assert rows.hour[mine].tolist() == list(range(int(mine.sum())))
        stay = sample_frame[sample_frame["patient_id"] == pid].reset_index(drop=True)
        expected = hourly_features(stay, SEPSIS_FEATURES, dtype=np.float32)
        assert np.array_equal(rows.x[mine], expected, equal_nan=True)

    def test_nothing_to_read(self, tmp_path: Path) -> None:
        from config.errors import ValidationFailed

        with pytest.raises(ValidationFailed, match="holds no .psv, .csv or .csv.gz"):
            site_read(tmp_path)
        with pytest.raises(ValidationFailed, match="neither a file nor a folder"):
            site_read(tmp_path / "missing")
