"""Monitor findings told through the alerts' channels: the model owners named on its monitor policy get one e-mail
(Django's SMTP backend to aiosmtpd on loopback) and one signed webhook when a drift run opens a finding; nothing
again while it stays open or when the task is delivered twice; again once it closed and a later run reopened it."""

import json
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.test import override_settings
from django.utils import timezone

from alerts.channels import webhook_signature
from alerts.models import FindingNotice, Notification
from alerts.services.notify import NOTIFY_ACTOR
from alerts.tasks import finding_notify
from audit.models import AuditRecord
from config.errors import ValidationFailed
from scoring.features.spec import SEPSIS_FEATURES
from scoring.models import DriftRun, ModelVersion
from scoring.monitoring.policy import monitor_policy_get, monitor_policy_update
from scoring.monitoring.services import drift_check
from tests.alerts.conftest import Listener, Mailbox
from tests.scoring.conftest import (  # noqa: F401  # the tiny sepsis model's fixtures
    registered,
    sample_frame,
    sample_patients,
    sample_rows,
    serve_rows,
    tiny_artifacts,
    tiny_scores,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
SECRET = "test-webhook-secret-0123456789"
OWNERS = ["owner@example.org", "safety@example.org"]
HCO3 = [f.name for f in SEPSIS_FEATURES].index("HCO3_last")
QUIET = {"missing_change": 1.0, "psi_major": 100.0, "drift_share": 1.0}
DEFAULTS = {"missing_change": 0.10, "psi_major": 0.25, "drift_share": 0.5}


def _policy(**changes: Any) -> None:
    monitor_policy_update(policy=monitor_policy_get("sepsis"), changes=changes, actor="gov", reason="test")


@pytest.fixture
def owners(settings: Any, smtp_server: Mailbox, webhook_listener: Listener) -> tuple[Mailbox, Listener]:
    settings.ALERTS_WEBHOOK_URL, settings.ALERTS_WEBHOOK_SECRET = webhook_listener.url, SECRET
    _policy(notify_email_to=", ".join(OWNERS), notify_webhook=True)
    return smtp_server, webhook_listener


@pytest.fixture
def bicarbonate_gone(
    registered: ModelVersion,  # noqa: F811
    tiny_artifacts: Any,  # noqa: F811
    sample_rows: np.ndarray,  # noqa: F811
    sample_patients: list[str],  # noqa: F811
) -> ModelVersion:
    """The tiny version served its reference rows without bicarbonate (a site that does not chart it)."""
    shifted = sample_rows.copy()
    shifted[:, HCO3] = np.nan
    serve_rows(shifted, registered.version, tiny_scores(registered, tiny_artifacts, shifted), patients=sample_patients)
    return registered


def _drift(mv: ModelVersion) -> DriftRun:
    return drift_check(mv, since=timezone.now() - timedelta(days=1), until=timezone.now() + timedelta(days=1))


@override_settings(MONITORING_MIN_ROWS=50)
def test_a_new_finding_is_told_once_by_email_and_signed_webhook(
    owners: tuple[Mailbox, Listener], bicarbonate_gone: ModelVersion
) -> None:
    mailbox, hook = owners
    hook.statuses = [503]  # the webhook's first try fails and is retried, as an alert's is
    run = _drift(bicarbonate_gone)
    assert run.verdict == "attention"
    ((to, message),) = mailbox.messages
    assert sorted(to) == OWNERS
    assert message["Subject"] == "[Stratify] Monitoring finding: sepsis 0.0.1-test (drift)"
    body = message.get_payload()
    assert "major change: HCO3_last" in body and "/models/sepsis/0.0.1-test/monitoring/" in body
    (_, (headers, raw)) = hook.received
    assert headers["x-stratify-signature"] == f"sha256={webhook_signature(raw, SECRET)}"
    payload = json.loads(raw)
    assert payload["event"] == "finding" and payload["finding"]["run"] == run.pk
    assert (payload["finding"]["monitor"], payload["finding"]["model_version"]) == ("drift", "0.0.1-test")
    assert "major change: HCO3_last" in payload["finding"]["what"]
    sent = Notification.objects.filter(finding__run_id=run.pk).order_by("channel")
    assert [(n.channel, n.status, n.attempts) for n in sent] == [("email", "sent", 1), ("webhook", "sent", 2)]
    told = AuditRecord.objects.filter(action="drift_check", actor=NOTIFY_ACTOR)
    assert {r.detail["channel"] for r in told} == {"email", "webhook"} and told[0].model_version == "0.0.1-test"

    assert _drift(bicarbonate_gone).verdict == "attention"  # still open: found again, nobody told again
    finding_notify.delay("drift", run.pk)  # the task delivered a second time
    assert (len(mailbox.messages), len(hook.received), FindingNotice.objects.count()) == (1, 2, 1)

    _policy(**QUIET)
    assert _drift(bicarbonate_gone).verdict == "stable"  # the finding closes
    _policy(**DEFAULTS)
    reopened = _drift(bicarbonate_gone)
    assert reopened.verdict == "attention" and FindingNotice.objects.count() == 2
    assert (len(mailbox.messages), len(hook.received)) == (2, 3)


@override_settings(MONITORING_MIN_ROWS=50)
def test_without_recipients_the_finding_is_recorded_and_nobody_is_told(
    smtp_server: Mailbox, bicarbonate_gone: ModelVersion
) -> None:
    assert _drift(bicarbonate_gone).verdict == "attention"
    notice = FindingNotice.objects.get()
    assert notice.model_version == "0.0.1-test" and not notice.notifications.exists() and not smtp_server.messages
    with pytest.raises(ValidationFailed, match="Not e-mail addresses: owner-at-site"):
        _policy(notify_email_to="owner@example.org, owner-at-site")
