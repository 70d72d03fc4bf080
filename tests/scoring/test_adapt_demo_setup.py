"""`adapt_demo_setup`: a shadow sepsis version recalibrated on the sandbox's 200 set-B stays, its promotion awaiting
a second person; a second run changes nothing."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from scoring.models import ModelChange, ModelVersion, PromotionRequest


def _run() -> str:
    out = io.StringIO()
    call_command("adapt_demo_setup", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
class AdaptDemoSetupTests:
    def test_a_shadow_version_awaiting_approval_once(self, settings: Any, tmp_path: Path) -> None:
        from scoring.services_registry import model_register

        settings.LOCAL_ARTIFACTS_DIR = tmp_path / "artifacts"
        model_register(artifact_dir="scoring/artifacts/sepsis/1.1.2", registered_by="test", status="active")
        started = time.monotonic()
        first = _run()
        assert time.monotonic() - started < 60
        assert "1.1.2-sandbox-recalibrated (shadow); 1 promotion request(s) awaiting approval" in first
        mv = ModelVersion.objects.get(version="1.1.2-sandbox-recalibrated")
        seen = mv.card["adaptation"]
        assert seen["site_data"]["stays"] == 200 and seen["min_septic_stays"] == 40
        assert (tmp_path / "artifacts" / "sepsis" / mv.version / "card.json").is_file()
        request = PromotionRequest.objects.get(challenger=mv)
        assert request.state == "pending" and request.requested_by == "demo:site-team"
        assert request.evidence["labelled_local"]["base_is_champion"]
        assert ModelChange.objects.get(model_version=mv).kind == "adaptation"
        assert json.loads((tmp_path / "artifacts" / "sepsis" / mv.version / "card.json").read_text())["version"]
        assert "1 promotion request(s) awaiting approval" in _run()
        assert PromotionRequest.objects.count() == 1 and ModelVersion.objects.filter(name="sepsis").count() == 2

    def test_needs_an_active_version(self) -> None:
        with pytest.raises(CommandError, match="no active sepsis version"):
            _run()
