"""`manage.py realtime_demo_setup`: each real-time model's default alert policy e-mails the demo's mailbox, once."""

from io import StringIO

import pytest
from django.core.management import call_command

from alerts.models import AlertPolicy, AlertPolicyChange
from alerts.services.policy import alert_policies_forget
from realtime.models_read import vitals_models

pytestmark = pytest.mark.django_db


def test_each_vitals_model_emails_the_demo_mailbox_and_a_second_run_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEMO_ALERTS_EMAIL", "icu-team@example.invalid")
    alert_policies_forget()
    out = StringIO()
    call_command("realtime_demo_setup", stdout=out)
    names = {m.name for m in vitals_models()}
    assert names and {p.model_name for p in AlertPolicy.objects.all()} == names
    assert set(AlertPolicy.objects.values_list("unit", "email_to", "min_band")) == {
        ("", "icu-team@example.invalid", "high")
    }
    assert "e-mail to icu-team@example.invalid" in out.getvalue()
    monkeypatch.delenv("DEMO_ALERTS_EMAIL")
    call_command("realtime_demo_setup", stdout=StringIO())
    assert AlertPolicyChange.objects.count() == len(names)  # kept: a policy naming recipients is left alone
    assert set(AlertPolicy.objects.values_list("email_to", flat=True)) == {"icu-team@example.invalid"}
