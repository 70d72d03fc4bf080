"""Registry readiness, manage.py check, status changes (rollback), policy edits with history, model card page."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from django.core.management import call_command
from django.test import Client

from config.errors import ValidationFailed
from scoring.models import ModelVersion, ThresholdPolicyChange
from scoring.readiness import registry_status
from scoring.services_registry import model_register, model_status_set, policy_update
from tests.scoring.conftest import tiny_card


@pytest.mark.django_db
class ReadinessTests:
    def test_ready_models_report_their_provider(self, registered: Any) -> None:
        status = registry_status()
        assert status["status"] == "ok"
        sepsis = next(m for m in status["models"] if m["name"] == "sepsis")
        assert sepsis["ready"] and sepsis["provider"] == "CPUExecutionProvider"

    def test_spec_mismatch_is_not_ready_and_a_check_error(
        self, tmp_path: Path, sample_frame: pd.DataFrame, registered: Any
    ) -> None:
        from django.core.checks import run_checks

        from scoring.serving.registry import cache_clear
        from scoring.training.publish import publish

        publish(tiny_card(sample_frame, spec_version="1999.0"), tmp_path / "old", "0.0.0-old")
        model_register(artifact_dir=str(tmp_path / "old"), registered_by="test", status="active")
        cache_clear()
        status = registry_status()
        assert status["status"] == "down"
        old = next(m for m in status["models"] if m["version"] == "0.0.0-old")
        assert not old["ready"] and "1999.0" in old["problem"]
        assert any(m.id == "scoring.E001" for m in run_checks())

    def test_missing_artifact_is_not_ready(self, registered: Any, tmp_path: Path, tiny_artifacts: Path) -> None:
        from scoring.serving.registry import cache_clear

        copy = tmp_path / "copy"
        shutil.copytree(tiny_artifacts, copy)
        mv = model_register(artifact_dir=str(copy), registered_by="test", status="active")
        (copy / "model.onnx").unlink()
        cache_clear()
        entry = next(m for m in registry_status()["models"] if m["version"] == mv.version)
        assert not entry["ready"] and "missing" in entry["problem"]


@pytest.mark.django_db
class StatusAndPolicyTests:
    def test_activating_retires_the_previous_active_and_rollback_restores(self, registered: Any) -> None:
        from audit.models import AuditRecord

        other = ModelVersion.objects.create(
            name="sepsis", version="9", title="t", kind="ml", spec_version="x", registered_by="t"
        )
        model_status_set(mv=other, status="active", actor="alice", reason="promote")
        registered.refresh_from_db()
        assert registered.status == "retired"
        model_status_set(mv=registered, status="active", actor="alice", reason="rollback")
        other.refresh_from_db()
        assert other.status == "retired"
        assert AuditRecord.objects.filter(action="admin_change", actor="alice").count() == 2

    def test_policy_update_needs_reason_and_keeps_history(self, registered: Any) -> None:
        policy = registered.policy
        with pytest.raises(ValidationFailed):
            policy_update(policy=policy, changes={"high_at": 0.3}, actor="bob", reason=" ")
        with pytest.raises(ValidationFailed):
            policy_update(policy=policy, changes={"moderate_at": 0.9, "high_at": 0.3}, actor="bob", reason="x")
        policy_update(policy=policy, changes={"high_at": 0.3}, actor="bob", reason="fewer alerts")
        change = ThresholdPolicyChange.objects.get(policy=policy)
        assert change.changed_by == "bob" and change.reason == "fewer alerts"
        assert change.before["high_at"] == 0.2 and change.after["high_at"] == 0.3

    def test_admin_list_shows_external_auroc_and_links_the_card(self, registered: Any, admin_client: Client) -> None:
        body = admin_client.get("/admin/scoring/modelversion/").content.decode()
        auroc = registered.card["metrics"]["external_test"]["auroc"]
        assert f"{auroc:.3f}" in body and f'href="/models/sepsis/{registered.version}/"' in body

    def test_admin_edit_requires_reason_and_writes_history(self, registered: Any, admin_client: Client) -> None:
        url = f"/admin/scoring/thresholdpolicy/{registered.policy.pk}/change/"
        data = {
            "moderate_at": "0.04",
            "high_at": "0.25",
            "low_indicator": "info",
            "moderate_indicator": "warning",
            "high_indicator": "critical",
            "changes-TOTAL_FORMS": "0",
            "changes-INITIAL_FORMS": "0",
        }
        assert admin_client.post(url, data).status_code == 200  # no reason: form error
        assert not ThresholdPolicyChange.objects.exists()
        response = admin_client.post(url, {**data, "reason": "calibration review"})
        assert response.status_code == 302
        change = ThresholdPolicyChange.objects.get()
        assert change.changed_by == "admin" and change.after["high_at"] == 0.25


@pytest.mark.django_db
class ModelCardPageTests:
    def test_card_page_shows_metrics_and_provider(self, registered: Any, client: Client) -> None:
        response = client.get(f"/models/sepsis/{registered.version}/")
        assert response.status_code == 200
        body = response.content.decode()
        assert "CPUExecutionProvider" in body and registered.sha256 in body and "Metrics" in body
        assert "look-back 72 h, earlier encounters 87660 h" in body  # what prefetch fetches, encounters included

    def test_index_lists_every_version_with_readiness_and_external_metrics(
        self, registered: Any, client: Client, tmp_path: Path, sample_frame: pd.DataFrame
    ) -> None:
        from scoring.training.publish import publish

        card = tiny_card(sample_frame)
        card["metrics"] = {"external_set_b": {"auroc": 0.7531, "auprc": 0.1, "utility": 0.2, "ece": 0.01}}
        publish(card, tmp_path / "0.0.2-test", "0.0.2-test")
        newer = model_register(artifact_dir=str(tmp_path / "0.0.2-test"), registered_by="test", status="active")
        assert ModelVersion.objects.get(pk=registered.pk).status == "retired"
        body = client.get("/models/").content.decode()
        rows = body.split("<tr>")[2:]
        assert [r.split("</td>")[1].split(">")[-2] for r in rows[:2]] == [
            f"sepsis {newer.version}</a",
            f"sepsis {registered.version}</a",
        ]  # active first, then retired
        assert "yes (CPUExecutionProvider)" in rows[0] and "0.753" in rows[0] and "PhysioNet set B" in rows[0]
        assert "not serving" in rows[1]
        assert 'href="/models/news2/rcp-2017/"' in body and "published rule" in body

    def test_card_page_shows_calibration_by_bin(
        self, registered: Any, client: Client, tmp_path: Path, sample_frame: pd.DataFrame
    ) -> None:
        from scoring.training.publish import publish

        card = tiny_card(sample_frame)
        card["metrics"]["external_test"]["reliability"] = [
            {"lower": 0.3, "upper": 0.4, "predicted": 0.3431, "observed": 0.1274, "n": 2397}
        ]
        publish(card, tmp_path / "0.0.3-test", "0.0.3-test")
        model_register(artifact_dir=str(tmp_path / "0.0.3-test"), registered_by="test", status="shadow")
        body = client.get("/models/sepsis/0.0.3-test/").content.decode()
        assert "Calibration by probability bin" in body
        assert "<td>external_test</td><td>0.30-0.40</td><td>0.343</td><td>0.127</td><td>2397</td>" in body
        older = client.get(f"/models/sepsis/{registered.version}/").content.decode()
        assert "Calibration by probability bin" not in older  # cards without bins (older versions) still render

    def test_index_without_models_says_how_to_install(self, db: Any, client: Client) -> None:
        assert "manage.py install_models" in client.get("/models/").content.decode()

    def test_unknown_card_is_404(self, db: Any, client: Client) -> None:
        assert client.get("/models/sepsis/nope/").status_code == 404

    def test_rule_card(self, registered: Any, client: Client) -> None:
        assert "RCP" in client.get("/models/news2/rcp-2017/").content.decode()


@pytest.mark.django_db
def test_install_models_is_idempotent() -> None:
    call_command("install_models")
    first = sorted(ModelVersion.objects.values_list("name", "version", "status", "sha256"))
    call_command("install_models")
    assert sorted(ModelVersion.objects.values_list("name", "version", "status", "sha256")) == first
    assert {n for n, *_ in first} >= {"news2", "qsofa"}
