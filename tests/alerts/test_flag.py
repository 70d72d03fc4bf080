"""The alert as a FHIR Flag: valid R4 (independent validators), and written to the sandbox EHR over real HTTP
with a Backend Services token only when switched on (active while open, inactive once closed)."""

from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from alerts.fhir import ALERT_IDENTIFIER_SYSTEM, flag_build
from alerts.models import Alert
from alerts.services import alert_resolve, alerts_on_score
from alerts.services.flag import flag_id
from audit.models import AuditRecord
from fhirapp.errors import FhirRequestRejected
from sandbox_ehr.auth.services import access_token_issue
from sandbox_ehr.fhir.faults import fault_clear, fault_inject
from smart_launch.models import EhrRegistration
from tests.alerts.conftest import result
from tests.fhir_validator import fhir_validate

START = datetime(2026, 3, 5, 14, 31, tzinfo=UTC)


def flag(end: datetime | None = None) -> dict[str, Any]:
    return flag_build(
        alert_id=42,
        patient_id="Patient/pat-1",
        model_name="news2",
        model_version="rcp-2017",
        title="NEWS2",
        band="high",
        score_text="7 points",
        summary="NEWS2 high",
        start=START,
        end=end,
    )


def test_flag_is_valid_r4_open_and_closed(fhir_schema_validate: Any) -> None:
    open_flag, closed = flag(), flag(end=datetime(2026, 3, 5, 15, 0, tzinfo=UTC))
    assert (open_flag["status"], "end" in open_flag["period"]) == ("active", False)
    assert (closed["status"], closed["period"]["end"]) == ("inactive", "2026-03-05T15:00:00.000Z")
    assert open_flag["code"]["text"] == "NEWS2 alert: high (7 points). NEWS2 high"
    assert fhir_validate([open_flag, closed]) == []
    assert fhir_schema_validate(open_flag) == [] and fhir_schema_validate(closed) == []


@pytest.fixture
def sandbox(live_server: Any, settings: Any) -> dict[str, Any]:
    settings.PUBLIC_BASE_URL = live_server.url
    call_command("sandbox_setup", stdout=StringIO())
    call_command("smart_demo_setup", stdout=StringIO())
    from fhirapp.client import FhirClient

    iss = f"{live_server.url}/sandbox/fhir"
    token = access_token_issue(client_id="stratify-tests", scope="system/Patient.crs system/Flag.rs")
    client = FhirClient(iss, token=token)
    patient = client.request("POST", "Patient", body={"resourceType": "Patient", "gender": "male"})
    return {
        "client": client,
        "patient": f"Patient/{patient['id']}",
        "registration": EhrRegistration.objects.get(iss=iss),
    }


def flags(client: Any, alert_id: int) -> list[dict[str, Any]]:
    try:
        return [client.read("Flag", flag_id(alert_id))]
    except FhirRequestRejected:  # 404: not written
        return []


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_flag_written_under_the_switches_then_made_inactive(sandbox: dict[str, Any], settings: Any) -> None:
    def raise_for(patient: str, minutes: int) -> Alert:
        alerts_on_score(
            registration_id=sandbox["registration"].pk,
            patient_id=patient,
            unit="ICU",
            results=[result("high", minutes=minutes)],
        )
        return Alert.objects.latest("pk")

    off = raise_for(sandbox["patient"], 0)  # ALERTS_FLAG_WRITEBACK is off by default
    assert flags(sandbox["client"], off.pk) == [] and off.flag_ref == ""
    alert_resolve(alert_id=off.pk, actor="nurse")
    settings.ALERTS_FLAG_WRITEBACK = True
    Alert.objects.filter(pk=off.pk).update(created_at=datetime(2020, 1, 1, tzinfo=UTC))  # past the re-alert interval
    alert = raise_for(sandbox["patient"], 5)
    alert.refresh_from_db()
    (written,) = flags(sandbox["client"], alert.pk)
    assert alert.flag_ref == f"Flag/{written['id']}" and written["status"] == "active"
    assert written["subject"]["reference"] == sandbox["patient"]
    assert written["identifier"][0] == {"use": "official", "system": ALERT_IDENTIFIER_SYSTEM, "value": str(alert.pk)}
    alert_resolve(alert_id=alert.pk, actor="nurse")
    (closed,) = flags(sandbox["client"], alert.pk)
    assert closed["id"] == written["id"] and closed["status"] == "inactive" and closed["period"]["end"]
    outcomes = [r.detail["flag_status"] for r in AuditRecord.objects.filter(action="write_back", outcome="success")]
    assert outcomes == ["active", "inactive"]
    fault_inject(status=422, times=1, methods=("PUT",))
    second = raise_for("Patient/other", 10)
    assert Alert.objects.get(pk=second.pk).flag_ref == ""  # a definite refusal: audited, not retried
    failure = AuditRecord.objects.get(action="write_back", outcome="failure")
    assert failure.detail["alert_id"] == second.pk
    fault_inject(status=503, times=1, methods=("PUT",))  # one that passes: the task retries it
    third = raise_for("Patient/third", 10)
    assert len(flags(sandbox["client"], third.pk)) == 1
    fault_clear()
    settings.WRITEBACK_ENABLED = False  # the write-back policy's switch governs the Flag too
    fourth = raise_for("Patient/fourth", 10)
    assert Alert.objects.get(pk=fourth.pk).flag_ref == ""
