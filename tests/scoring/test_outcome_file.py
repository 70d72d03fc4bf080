"""Labelled outcome files (command and admin upload): stored by the served-inference pseudonym, every bad row
named with its line, nothing stored from a file with a bad row; monitor thresholds edited in admin with history."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from audit.models import AuditRecord
from config.errors import ValidationFailed
from config.keys import pseudonymize
from scoring.models import MonitorPolicy, Outcome, OutcomeImport
from scoring.monitoring.outcomes import outcomes_import_file
from scoring.monitoring.policy import monitor_policy_get, monitor_policy_update, performance_bounds

pytestmark = pytest.mark.django_db
GOOD = (
    "patient,model,label,time\n"
    "Patient/physionet-p000009,sepsis,1,2026-03-01T14:00:00Z\n"
    f"{'b' * 64},readmission,0,2026-03-31T00:00:00+02:00\n"
)
BAD = (
    "patient,model,label,time\n"
    "Patient/physionet-p000009,sepsis,1,2026-03-01T14:00:00Z\n"
    "p000010,sepsis,1,2026-03-01T14:00:00Z\n"
    "Patient/x,news2,1,2026-03-01T14:00:00Z\n"
    "Patient/x,sepsis,maybe,2026-03-01T14:00:00Z\n"
    "Patient/x,sepsis,0,2026-03-01 14:00\n"
    "Patient/x,sepsis,0,2999-01-01T00:00:00Z\n"
    "Patient/x,sepsis,0,yesterday\n"
)


def test_a_good_file_is_stored_under_the_served_pseudonyms_once(tmp_path: Path) -> None:
    path = tmp_path / "outcomes.csv"
    path.write_text(GOOD)
    out = StringIO()
    call_command("import_outcomes", str(path), stdout=out)
    call_command("import_outcomes", str(path), stdout=out)
    assert "2 outcome rows read, 2 new" in out.getvalue() and "2 outcome rows read, 0 new" in out.getvalue()
    sepsis = Outcome.objects.get(model_name="sepsis")
    assert sepsis.patient_pseudonym == pseudonymize("physionet-p000009") and sepsis.occurred
    assert sepsis.at.isoformat() == "2026-03-01T14:00:00+00:00"
    readmission = Outcome.objects.get(model_name="readmission")
    assert readmission.patient_pseudonym == "b" * 64 and not readmission.occurred
    assert readmission.at.isoformat() == "2026-03-30T22:00:00+00:00"
    assert AuditRecord.objects.filter(action="outcome_import").count() == 2


def test_every_bad_row_is_named_and_nothing_is_stored() -> None:
    with pytest.raises(ValidationFailed) as refused:
        outcomes_import_file(text=BAD, name="bad.csv", actor="t")
    errors = {row["line"]: row["error"] for row in refused.value.extra["rows"]}
    assert set(errors) == {3, 4, 5, 6, 7, 8}
    assert "Patient/<id>" in errors[3] and "not an ML model" in errors[4] and "label must be" in errors[5]
    assert "UTC offset" in errors[6] and "future" in errors[7] and "not ISO 8601" in errors[8]
    assert not Outcome.objects.exists() and not OutcomeImport.objects.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [("patient,model\nPatient/x,sepsis\n", "missing: label, time"), ("patient,model,label,time\n", "no outcome rows")],
)
def test_a_file_without_columns_or_rows_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        outcomes_import_file(text=text, name="f.csv", actor="t")


def test_the_command_lists_the_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(BAD)
    with pytest.raises(CommandError, match=r"6 row\(s\) refused; nothing was stored\.\n  line 3: patient must be"):
        call_command("import_outcomes", str(path))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_outcomes", str(tmp_path / "missing.csv"))
    assert not Outcome.objects.exists()


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("gov", password="pw-123456789"))
    return client


def test_the_admin_upload_shows_row_errors_then_stores_a_good_file(admin_client: Client) -> None:
    url = reverse("admin:scoring_outcomeimport_add")
    refused = admin_client.post(url, {"file": SimpleUploadedFile("bad.csv", BAD.encode())})
    page = refused.content.decode()
    assert refused.status_code == 200 and "line 4: model" in page and "nothing was stored" in page
    assert not Outcome.objects.exists()
    stored = admin_client.post(url, {"file": SimpleUploadedFile("good.csv", GOOD.encode())})
    assert stored.status_code == 302, stored.content.decode()[:2000]
    batch = OutcomeImport.objects.get()
    assert (batch.source, batch.rows, batch.created, batch.imported_by) == ("good.csv", 2, 2, "admin:gov")
    assert admin_client.get(reverse("admin:scoring_outcomeimport_change", args=[batch.pk])).status_code == 200
    assert admin_client.get(reverse("admin:scoring_outcome_changelist")).status_code == 200


def test_the_admin_upload_refuses_a_binary_or_oversized_file(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = reverse("admin:scoring_outcomeimport_add")
    binary = admin_client.post(url, {"file": SimpleUploadedFile("x.csv", b"\xff\xfe\x00bad")})
    assert "not UTF-8" in binary.content.decode()
    monkeypatch.setattr("scoring.admin_monitoring.MAX_UPLOAD_BYTES", 10)
    large = admin_client.post(url, {"file": SimpleUploadedFile("big.csv", GOOD.encode())})
    assert "larger than" in large.content.decode() and not OutcomeImport.objects.exists()


def test_naive_or_broken_fhir_times_are_skipped() -> None:
    from datetime import UTC, datetime

    from scoring.monitoring.outcomes_fhir import fhir_outcomes

    code = {"coding": [{"system": "http://snomed.info/sct", "code": "91302008"}]}
    conditions = [
        {"id": "1", "subject": {"reference": "Patient/a"}, "code": code, "onsetDateTime": "2026-01-02T00:00:00"},
        {"id": "2", "subject": {"reference": "Patient/a"}, "code": code, "onsetDateTime": "soon"},
        {
            "id": "3",
            "subject": {"reference": "Group/g"},
            "code": code,
            "onsetPeriod": {"start": "2026-01-02T00:00:00Z"},
        },
        {
            "id": "4",
            "subject": {"reference": "Patient/a"},
            "code": code,
            "onsetPeriod": {"start": "2026-01-02T00:00:00Z"},
        },
    ]
    items = fhir_outcomes("sepsis", "https://ehr", {"Condition": conditions}, datetime(2026, 2, 1, tzinfo=UTC))
    assert [i.at.isoformat() for i in items] == ["2026-01-02T00:00:00+00:00"]


def test_thresholds_are_edited_in_admin_with_history_and_audit(admin_client: Client) -> None:
    defaults = monitor_policy_get("sepsis")
    assert defaults.pk is None and defaults.psi_major == 0.25 and defaults.min_events == 100
    data = {f.name: getattr(defaults, f.name) for f in MonitorPolicy._meta.fields if f.name not in ("id", "updated_at")}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    response = admin_client.post(
        reverse("admin:scoring_monitorpolicy_add"),
        {
            **data,
            "auroc_min": "0.75",
            "reason": "site target",
            "changes-TOTAL_FORMS": "0",
            "changes-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    policy = MonitorPolicy.objects.get()
    assert policy.auroc_min == 0.75
    monitor_policy_update(policy=policy, changes={"ece_max": 0.02}, actor="gov", reason="tighter")
    history = list(policy.changes.order_by("changed_at", "id"))
    assert [h.reason for h in history] == ["site target", "tighter"] and history[0].before == {}
    assert history[1].before["ece_max"] is None and history[1].after["ece_max"] == 0.02
    audits = AuditRecord.objects.filter(action="admin_change", detail__what="monitor policy")
    assert audits.count() == 2
    bounds = performance_bounds(
        policy, {"metrics": {"external_x": {"auroc": 0.8, "auprc": 0.1, "subgroups": {"male": {"auroc": 0.7}}}}}
    )
    assert (bounds["auroc_min"], bounds["auprc_min"], bounds["ece_max"]) == (0.75, 0.1, 0.02)
    assert bounds["subgroup_auroc_min"] == {"male": 0.7}


@pytest.mark.parametrize(
    ("changes", "reason", "message"),
    [
        ({}, " ", "reason is required"),
        ({"slope_min": 1.2, "slope_max": 1.0}, "r", "slope_min"),
        ({"psi_major": -1}, "r", "negative"),
    ],
)
def test_bad_threshold_edits_are_refused(changes: dict, reason: str, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        monitor_policy_update(policy=monitor_policy_get("sepsis"), changes=changes, actor="gov", reason=reason)
    assert not MonitorPolicy.objects.exists()
