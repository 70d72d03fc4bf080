"""`manage.py demo_setup`: the demo admin (once), each app's demo step in order, refused under production."""

from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db
GOVERNANCE_ONLY = [("governance: clinician / admin / auditor groups", "governance_setup")]


def _run() -> str:
    out = StringIO()
    call_command("demo_setup", stdout=out)
    return out.getvalue()


class DemoSetupCommandTests:
    def test_creates_the_admin_with_the_chosen_password_then_runs_the_app_steps(
        self, settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        settings.DEMO_SETUP_COMMANDS = GOVERNANCE_ONLY
        monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "demo-pass-123")
        output = _run()
        assert output.index("==> demo admin user") < output.index("==> governance: clinician / admin / auditor")
        assert "created admin user 'admin' with password: demo-pass-123" in output
        admin = authenticate(username="admin", password="demo-pass-123")
        assert admin is not None and admin.is_superuser
        assert Group.objects.filter(name__in=["clinician", "admin", "auditor"]).count() == 3

    def test_a_second_run_keeps_the_admin(self, settings, monkeypatch: pytest.MonkeyPatch) -> None:
        settings.DEMO_SETUP_COMMANDS = []
        monkeypatch.delenv("DEMO_ADMIN_PASSWORD", raising=False)
        first = _run()
        password = first.split("with password: ")[1].split()[0]
        assert len(password) >= 16  # generated when none is chosen
        second = _run()
        assert "admin user 'admin' exists" in second and "with password: " not in second  # no new password
        assert "changepassword admin" in second  # the hint survives (a new password is never printed again)
        assert get_user_model().objects.filter(username="admin").count() == 1
        assert authenticate(username="admin", password=password) is not None

    def test_refused_under_production_settings(self, settings) -> None:
        settings.STRATIFY_PRODUCTION = True
        settings.DEMO_SETUP_COMMANDS = GOVERNANCE_ONLY
        with pytest.raises(CommandError, match="demo_setup is for the embedded demo only"):
            _run()
        assert not get_user_model().objects.exists() and not Group.objects.exists()
