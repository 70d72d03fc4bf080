"""The model card's global explanation (shap at training): card JSON, card.md, figure, card page, add-on command."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from scoring.artifact import EXPLANATION_PNG
from scoring.card import EXPLANATION_HEADING
from scoring.features.hourly import hourly_features
from scoring.features.spec import SEPSIS_FEATURES
from scoring.services_registry import model_register
from scoring.training.publish import CARD_JSON, CARD_MD, explanation_add

SHIPPED = Path(settings.BASE_DIR) / "scoring" / "artifacts"


def test_publish_explains_the_model_with_tree_shap(tiny_artifacts: Path, sample_frame: pd.DataFrame) -> None:
    import xgboost as xgb

    card = json.loads((tiny_artifacts / CARD_JSON).read_text())
    explanation = card["global_explanation"]
    values = [f["mean_abs_shap"] for f in explanation["features"]]
    assert [f["name"] for f in explanation["features"]] != [] and values == sorted(values, reverse=True)
    assert {f["name"] for f in explanation["features"]} == set(card["features"])
    assert explanation["rows"] == 200 and explanation["rows_from"] == "external_test"
    # shap's exact TreeSHAP agrees with XGBoost's pred_contribs, which serving uses for each patient's drivers.
    booster = xgb.Booster(model_file=str(tiny_artifacts / "booster.json"))
    rows = hourly_features(sample_frame, SEPSIS_FEATURES, dtype=np.float32)[:200]
    contribs = np.abs(booster.predict(xgb.DMatrix(rows), pred_contribs=True)[:, :-1]).mean(axis=0)
    by_name = dict(zip(card["features"], contribs, strict=True))
    assert all(abs(f["mean_abs_shap"] - by_name[f["name"]]) < 1e-5 for f in explanation["features"])
    assert EXPLANATION_PNG in card["artifacts"] and (tiny_artifacts / EXPLANATION_PNG).read_bytes()[:4] == b"\x89PNG"
    assert EXPLANATION_HEADING in (tiny_artifacts / CARD_MD).read_text()


def _unexplained_copy(tiny_artifacts: Path, tmp_path: Path) -> Path:
    """A published folder as versions before the explanation existed look: no key, no section, no figure."""
    folder = tmp_path / "sepsis" / "0.0.9-old"
    shutil.copytree(tiny_artifacts, folder)
    card = json.loads((folder / CARD_JSON).read_text())
    del card["global_explanation"]
    card["artifacts"].remove(EXPLANATION_PNG)
    card["version"] = folder.name
    (folder / CARD_JSON).write_text(json.dumps(card))
    markdown = (folder / CARD_MD).read_text()
    head, _, rest = markdown.partition(EXPLANATION_HEADING)
    (folder / CARD_MD).write_text(head + rest[rest.index("## Intended use") :])
    (folder / EXPLANATION_PNG).unlink()
    return folder


def test_explanation_add_leaves_the_model_files_alone(
    tiny_artifacts: Path, tmp_path: Path, sample_frame: pd.DataFrame
) -> None:
    folder = _unexplained_copy(tiny_artifacts, tmp_path)
    model_bytes = {name: (folder / name).read_bytes() for name in ("model.onnx", "booster.json")}
    old_markdown = (folder / CARD_MD).read_text()
    rows = hourly_features(sample_frame, SEPSIS_FEATURES, dtype=np.float32)[:200]
    for _ in range(2):  # idempotent: a second run replaces the section
        card = explanation_add(folder, rows)
    assert {name: (folder / name).read_bytes() for name in model_bytes} == model_bytes
    assert card["global_explanation"] == json.loads((tiny_artifacts / CARD_JSON).read_text())["global_explanation"]
    head, _, rest = (folder / CARD_MD).read_text().partition(EXPLANATION_HEADING)
    assert head + rest[rest.index("## Intended use") :] == old_markdown  # the section added, nothing else changed
    assert EXPLANATION_HEADING not in rest
    assert (folder / EXPLANATION_PNG).is_file() and EXPLANATION_PNG in card["artifacts"]


def test_explain_model_refuses_what_it_cannot_recompute(tiny_artifacts: Path, tmp_path: Path) -> None:
    folder = _unexplained_copy(tiny_artifacts, tmp_path)
    card = json.loads((folder / CARD_JSON).read_text())
    (folder / CARD_JSON).write_text(json.dumps({**card, "recalibration": {"base_version": "1.1.2"}}))
    with pytest.raises(CommandError, match="re-run recalibrate_model"):
        call_command("explain_model", str(folder), stdout=StringIO())
    (folder / CARD_JSON).write_text(json.dumps({**card, "name": "stroke"}))
    with pytest.raises(CommandError, match="No trainer"):
        call_command("explain_model", str(folder), stdout=StringIO())
    with pytest.raises(CommandError, match="has no card.json"):
        call_command("explain_model", str(tmp_path), stdout=StringIO())


@pytest.mark.parametrize("folder", sorted(SHIPPED.glob("*/*/")), ids=lambda p: f"{p.parent.name}-{p.name}")
def test_shipped_artifacts_carry_their_explanation(folder: Path) -> None:
    card = json.loads((folder / CARD_JSON).read_text())
    assert len(card["global_explanation"]["features"]) == len(card["features"])
    assert card["global_explanation"]["rows"] == 2000 and (folder / EXPLANATION_PNG).is_file()
    assert EXPLANATION_HEADING in (folder / CARD_MD).read_text()


@pytest.mark.django_db
def test_card_page_shows_the_explanation(registered: Any, client: Client, tmp_path: Path, tiny_artifacts: Path) -> None:
    body = client.get(f"/models/sepsis/{registered.version}/").content.decode()
    top = registered.card["global_explanation"]["features"][0]
    assert "Global explanation" in body and f"/models/sepsis/{registered.version}/explanation.png" in body
    assert f"<td>{top['label']}</td><td><code>{top['name']}</code></td>" in body
    png = client.get(f"/models/sepsis/{registered.version}/explanation.png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    old = _unexplained_copy(tiny_artifacts, tmp_path)
    model_register(artifact_dir=str(old), registered_by="test", status="shadow")
    assert "Global explanation" not in client.get("/models/sepsis/0.0.9-old/").content.decode()
    missing = client.get("/models/sepsis/0.0.9-old/explanation.png")
    assert missing.status_code == 404 and missing.json()["message"] == "No global explanation for this version."


def test_shap_stays_out_of_the_request_path() -> None:
    """Serving, the CDS and SMART doors and the card page import without loading shap."""
    code = (
        "import django, sys; django.setup(); import config.urls, scoring.services, cds_hooks.apis, "
        "smart_launch.views, scoring.views; print('shap' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=settings.BASE_DIR, timeout=120
    )
    assert done.stdout.strip() == "False"
