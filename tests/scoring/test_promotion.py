"""Governed promotion: the request compares challenger and champion on the same served cases (and, on those whose
outcomes are known, discrimination and calibration with the performance monitor's own numbers) and keeps the
evidence; the two-person rule (the requester cannot approve, a second person can), audited; rollback in one action;
the change log in admin and on the card page."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from audit.models import AuditRecord
from config.errors import PermissionDenied, ValidationFailed
from config.keys import pseudonymize
from scoring.features.hourly import hourly_features
from scoring.features.physionet_fhir import row_time
from scoring.features.spec import SEPSIS_FEATURES
from scoring.models import ModelChange, ModelVersion, PromotionRequest, ServedInference
from scoring.monitoring.evaluation import performance_check
from scoring.monitoring.outcomes import outcomes_store
from scoring.monitoring.policy import monitor_policy_get, monitor_policy_update
from scoring.services import score_patient
from scoring.services_promotion import (
    promotion_approve,
    promotion_reject,
    promotion_request_create,
    promotion_rollback,
)
from scoring.services_registry import model_register
from tests.scoring.conftest import START, serve_rows, stay_outcomes, tiny_card, tiny_scores


@pytest.fixture(scope="session")
def challenger_artifacts(tmp_path_factory: pytest.TempPathFactory, sample_frame: pd.DataFrame) -> Path:
    """A second tiny sepsis version, with other thresholds (so bands can differ) and its Platt slope halved (a
    recalibration: the same ranking, another calibration)."""
    from scoring.training.publish import publish

    card = tiny_card(sample_frame)
    card["thresholds"] = {"moderate": 0.02, "high": 0.1, "criterion": "test challenger"}
    card["calibration"]["a"] /= 2
    out = tmp_path_factory.mktemp("challenger") / "sepsis" / "0.0.2-test"
    publish(card, out, "0.0.2-test")
    return out


@pytest.fixture
def challenger(registered: Any, challenger_artifacts: Path, stay_resources: list[dict]) -> ModelVersion:
    """The champion (tiny, active) has served 5 cases; the challenger is registered as shadow after them."""
    for hour in range(20, 30, 2):
        score_patient(model_name="sepsis", resources=stay_resources, as_of=row_time(START, hour), patient_id="p9")
    ServedInference.objects.filter(model_version="0.0.2-test").delete()
    return model_register(artifact_dir=str(challenger_artifacts), registered_by="test")


def _serve_the_sample(registered: ModelVersion, tiny_artifacts: Path, sample_frame: pd.DataFrame) -> np.ndarray:
    """Every hour of the 20 sample stays served by the champion (hour 0 at START); judged from 10 patients with
    the outcome and 10 without (the sample's split; 100 of each by default)."""
    rows = hourly_features(sample_frame, SEPSIS_FEATURES, dtype=np.float64)
    serve_rows(
        rows,
        registered.version,
        tiny_scores(registered, tiny_artifacts, rows),
        patients=[pseudonymize(f"physionet-{p}") for p in sample_frame["patient_id"]],
        times=[START + timedelta(hours=int(h)) for h in sample_frame["hour"]],
    )
    monitor_policy_update(
        policy=monitor_policy_get("sepsis"), changes={"min_events": 10}, actor="gov", reason="20-stay sample"
    )
    return rows


def _outcomes_of_the_sample(sample_frame: pd.DataFrame) -> None:
    outcomes_store(kind="file", source="sample labels", items=stay_outcomes(sample_frame, START), actor="test")


def _actions(what: str) -> list[AuditRecord]:
    return [r for r in AuditRecord.objects.filter(action="admin_change") if r.detail.get("what") == what]


@pytest.mark.django_db
class PromotionTests:
    def test_the_request_compares_both_on_the_same_served_cases(self, challenger: ModelVersion) -> None:
        request = promotion_request_create(
            challenger=challenger, target_status="active", requested_by="alice", reason="better calibrated"
        )
        served = request.evidence["served_cases"]
        assert request.champion is not None and request.champion.version == "0.0.1-test"
        assert served["cases"] == 5 and served["champion"]["bands"] and served["challenger"]["bands"]
        assert sum(served["challenger"]["bands"].values()) == 5 and 0.0 <= served["band_agreement"] <= 1.0
        assert "Too few served cases with known outcomes" in request.evidence["served_outcomes"]["note"]
        assert "not adapted" in request.evidence["labelled_local"]["note"]
        assert _actions("promotion_request")[-1].actor == "alice"
        with pytest.raises(ValidationFailed, match="already has a pending promotion request"):
            promotion_request_create(challenger=challenger, target_status="active", requested_by="bob", reason="x")
        with pytest.raises(ValidationFailed, match="cannot be promoted to 'active'"):
            promotion_request_create(challenger=request.champion, target_status="active", requested_by="b", reason="x")

    def test_served_cases_with_known_outcomes_compare_discrimination_and_calibration(
        self, challenger: ModelVersion, registered: ModelVersion, tiny_artifacts: Path, sample_frame: pd.DataFrame
    ) -> None:
        rows = _serve_the_sample(registered, tiny_artifacts, sample_frame)
        unknown = promotion_request_create(challenger=challenger, target_status="active", requested_by="a", reason="r")
        assert (
            unknown.evidence["served_outcomes"]["cases"] == 0 and "champion" not in unknown.evidence["served_outcomes"]
        )
        promotion_reject(request=unknown, actor="a", reason="outcomes not in yet")
        _outcomes_of_the_sample(sample_frame)
        found = promotion_request_create(challenger=challenger, target_status="active", requested_by="a", reason="r")
        part = found.evidence["served_outcomes"]
        assert (part["patients_with_outcome"], part["patients_without_outcome"]) == (10, 10)
        assert 0 < part["cases_with_outcome"] < part["cases"] < len(rows)  # hours past the horizon are unlabelled
        ours, theirs = part["champion"], part["challenger"]
        assert theirs["auroc"]["value"] == pytest.approx(ours["auroc"]["value"])  # a recalibration keeps the ranking
        assert theirs["calibration_slope"]["value"] == pytest.approx(2 * ours["calibration_slope"]["value"], rel=1e-3)
        window = (timezone.now() - timedelta(hours=1), timezone.now() + timedelta(hours=1))
        monitor = performance_check(registered, since=window[0], until=window[1]).results
        for metric in ("auroc", "auprc", "ece", "calibration_slope", "calibration_intercept"):
            assert ours[metric]["value"] == pytest.approx(monitor[metric]["value"]), metric  # the monitor's numbers
        for metric in ("auroc", "auprc", "ece"):  # and intervals (a slope fit may converge otherwise in another order)
            assert ours[metric]["ci"] == pytest.approx(monitor[metric]["ci"]), metric

    def test_two_person_rule_then_rollback_in_one_action(self, challenger: ModelVersion) -> None:
        request = promotion_request_create(
            challenger=challenger, target_status="active", requested_by="alice", reason="better calibrated"
        )
        with pytest.raises(PermissionDenied, match="Two-person rule"):
            promotion_approve(request=request, actor="alice", reason="looks good")
        with pytest.raises(ValidationFailed, match="A reason is required"):
            promotion_approve(request=request, actor="bob", reason=" ")
        assert ModelVersion.objects.get(pk=challenger.pk).status == "shadow"
        promotion_approve(request=request, actor="bob", reason="held-out ECE better, served bands agree")
        statuses = dict(ModelVersion.objects.filter(name="sepsis").values_list("version", "status"))
        assert statuses == {"0.0.1-test": "retired", "0.0.2-test": "active"}
        entry = ModelChange.objects.get(kind="promotion")
        assert (entry.changed_by, entry.approved_by, entry.reason) == ("alice", "bob", "better calibrated")
        assert entry.evidence == request.evidence and entry.before["0.0.1-test"] == "active"
        assert _actions("promotion_approve")[-1].actor == "bob"
        promotion_rollback(request=request, actor="carol", reason="alert burden doubled")
        statuses = dict(ModelVersion.objects.filter(name="sepsis").values_list("version", "status"))
        assert statuses == {"0.0.1-test": "active", "0.0.2-test": "shadow"}
        request.refresh_from_db()
        assert request.state == "rolled_back" and request.rolled_back_by == "carol"
        assert ModelChange.objects.get(kind="rollback").reason == "alert burden doubled"
        assert _actions("promotion_rollback")[-1].actor == "carol"
        with pytest.raises(ValidationFailed, match="only a approved one can take 'rollback'"):
            promotion_rollback(request=request, actor="carol", reason="again")

    def test_canary_keeps_the_champion_and_rejection_changes_nothing(self, challenger: ModelVersion) -> None:
        request = promotion_request_create(challenger=challenger, target_status="canary", requested_by="a", reason="r")
        promotion_reject(request=request, actor="a", reason="withdrawn: wrong site file")
        assert ModelVersion.objects.get(pk=challenger.pk).status == "shadow" and not ModelChange.objects.exists()
        request = promotion_request_create(challenger=challenger, target_status="canary", requested_by="a", reason="r")
        promotion_approve(request=request, actor="b", reason="try on a share of patients")
        statuses = dict(ModelVersion.objects.filter(name="sepsis").values_list("version", "status"))
        assert statuses == {"0.0.1-test": "active", "0.0.2-test": "canary"}
        promotion_rollback(request=request, actor="b", reason="stop")
        assert ModelVersion.objects.get(pk=challenger.pk).status == "shadow"

    def test_the_rule_is_configurable(self, challenger: ModelVersion, settings: Any) -> None:
        settings.PROMOTION_TWO_PERSON_RULE = False
        request = promotion_request_create(challenger=challenger, target_status="active", requested_by="a", reason="r")
        promotion_approve(request=request, actor="a", reason="single-person site")
        assert ModelVersion.objects.get(pk=challenger.pk).status == "active"

    def test_the_command(self, challenger: ModelVersion) -> None:
        out = io.StringIO()
        call_command("promote_model", "request", "sepsis", "0.0.2-test", "--by", "a", "--reason", "r", stdout=out)
        pk = str(PromotionRequest.objects.get().pk)
        with pytest.raises(CommandError, match="Two-person rule"):
            call_command("promote_model", "approve", pk, "--by", "a", "--reason", "ok")
        call_command("promote_model", "approve", pk, "--by", "b", "--reason", "ok", stdout=out)
        call_command("promote_model", "rollback", pk, "--by", "b", "--reason", "undo", stdout=out)
        assert "rolled_back" in out.getvalue()
        for args in (["request", "sepsis"], ["request", "sepsis", "9.9"], ["approve", "77"]):
            with pytest.raises(CommandError):
                call_command("promote_model", *args, "--by", "a", "--reason", "r")


@pytest.mark.django_db
class PromotionAdminTests:
    def _user(self, name: str) -> Any:
        return get_user_model().objects.create_superuser(name, f"{name}@example.org", "pw-123456789")

    def test_request_in_admin_second_person_approves_and_the_card_shows_the_log(
        self, client: Any, challenger: ModelVersion
    ) -> None:
        alice, bob = self._user("alice"), self._user("bob")
        client.force_login(alice)
        response = client.post(
            "/admin/scoring/promotionrequest/add/",
            {"challenger": challenger.pk, "target_status": "active", "reason": "site recalibration"},
        )
        assert response.status_code == 302
        request = PromotionRequest.objects.get()
        assert request.requested_by == "alice" and request.evidence["served_cases"]["cases"] == 5
        page = client.get(f"/admin/scoring/promotionrequest/{request.pk}/change/")
        assert (
            page.status_code == 200
            and b"Same recent served cases" in page.content
            and b"band_agreement" in page.content
            and b"Too few served cases with known outcomes" in page.content
        )
        url = f"/admin/scoring/promotionrequest/{request.pk}/change/"
        refused = client.post(url, {"decision": "approve", "note": "mine"})
        assert refused.status_code == 200 and b"Two-person rule" in refused.content
        client.force_login(bob)
        assert client.post(url, {"decision": "approve", "note": "checked the evidence"}).status_code == 302
        assert ModelVersion.objects.get(pk=challenger.pk).status == "active"
        card = client.get("/models/sepsis/0.0.2-test/").content.decode()
        assert "Change log (sepsis)" in card and "checked the evidence" in card and "site recalibration" in card
        assert "Approved:" in card and "bob" in card
        assert client.get("/admin/scoring/modelchange/").status_code == 200
        assert client.get(f"/admin/scoring/modelversion/{challenger.pk}/change/").status_code == 200
        assert client.post(url, {"decision": "rollback", "note": "undo"}).status_code == 302
        assert ModelVersion.objects.get(pk=challenger.pk).status == "shadow"

    def test_the_request_page_shows_both_models_on_served_cases_with_known_outcomes(
        self, client: Any, challenger: ModelVersion, registered: ModelVersion, tiny_artifacts: Path,
        sample_frame: pd.DataFrame,
    ) -> None:  # fmt: skip
        _serve_the_sample(registered, tiny_artifacts, sample_frame)
        _outcomes_of_the_sample(sample_frame)
        client.force_login(self._user("alice"))
        added = {"challenger": challenger.pk, "target_status": "active", "reason": "site recalibration"}
        assert client.post("/admin/scoring/promotionrequest/add/", added).status_code == 302
        page = client.get(f"/admin/scoring/promotionrequest/{PromotionRequest.objects.get().pk}/change/")
        text = page.content.decode()
        assert "Served cases with known outcomes" in text and "10 patients with the outcome, 10 without" in text
        assert "<th>current 0.0.1-test</th><th>challenger 0.0.2-test</th>" in text
        assert "<th>calibration slope (1 when calibrated)</th><td>" in text and "(95% CI " in text
        assert "Too few" not in text
        card = client.get("/models/sepsis/0.0.2-test/").content.decode()
        assert "Served cases with known outcomes (" in card and "calibration slope" in card
