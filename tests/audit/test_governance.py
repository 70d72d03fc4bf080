"""Governance groups (least privilege, idempotent) and the audited-admin mixin for other apps."""

from io import StringIO

import pytest
from django.contrib.admin import AdminSite
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.http import HttpRequest
from django.test import RequestFactory

from audit.admin_mixins import AuditedAdminMixin
from audit.models import AuditRecord

pytestmark = pytest.mark.django_db


def _codes(group: str) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in Group.objects.get(name=group).permissions.all()}


class GovernanceSetupTests:
    def test_groups_and_least_privilege(self) -> None:
        call_command("governance_setup", stdout=StringIO())
        assert _codes("clinician") == set()
        assert _codes("auditor") == {
            "audit.view_auditrecord",
            "audit.break_glass_auditrecord",
            "fhirapp.view_writeback",
            "fhirapp.view_failedwriteback",
        }
        admin = _codes("admin")
        assert "fhirapp.change_writeback" in admin
        assert not any(code.startswith("fhirapp.") and "auditrecord" in code for code in admin)
        assert not any(code.startswith(("auth.", "oauth2_provider.", "sandbox_")) for code in admin)
        assert {
            "scoring.change_thresholdpolicy",
            "cds_hooks.add_trustedcdsclient",
            "smart_launch.change_ehrregistration",
            "cds_hooks.view_issuedcard",
        } <= admin
        assert (
            not {
                "cds_hooks.change_issuedcard",
                "scoring.delete_thresholdpolicychange",
                "smart_launch.view_smartsession",
                "smart_launch.change_clientkey",
            }
            & admin
        )

    def test_idempotent_and_resets_drift(self) -> None:
        call_command("governance_setup", stdout=StringIO())
        before = {name: _codes(name) for name in ("clinician", "admin", "auditor")}
        Group.objects.get(name="clinician").permissions.add(*Group.objects.get(name="auditor").permissions.all())
        call_command("governance_setup", stdout=StringIO())
        assert {name: _codes(name) for name in before} == before
        assert Group.objects.filter(name__in=before).count() == 3

    def test_in_demo_setup_before_smart(self, settings: object) -> None:
        commands = [name.split()[0] for _, name in settings.DEMO_SETUP_COMMANDS]  # type: ignore[attr-defined]
        assert commands.index("governance_setup") < commands.index("smart_demo_setup")


class ReasonedGroupAdmin(AuditedAdminMixin, GroupAdmin):
    audit_reason_required = True


class AuditedAdminMixinTests:
    def _request(self) -> HttpRequest:
        request = RequestFactory().post("/admin/auth/group/add/")
        request.user = User.objects.create_user("boss", is_staff=True, is_superuser=True)
        return request

    def test_reason_required_and_recorded(self) -> None:
        model_admin = ReasonedGroupAdmin(Group, AdminSite())
        request = self._request()
        form_class = model_admin.get_form(request)
        assert not form_class({"name": "ward-7"}).is_valid()
        form = form_class({"name": "ward-7", "audit_reason": "New ward opened (ticket 42)"})
        assert form.is_valid()
        group = form.save(commit=False)
        model_admin.save_model(request, group, form, change=False)
        model_admin.log_addition(request, group, [{"added": {}}])
        record = AuditRecord.objects.get(action="admin_change")
        assert record.actor == "admin:boss" and record.purpose_of_use == "HSYSADMIN"
        assert record.detail["operation"] == "add" and record.detail["model"] == "auth.group"
        assert record.detail["reason"] == "New ward opened (ticket 42)"
        assert "audit_reason" in str(model_admin.get_fieldsets(request))

    def test_change_and_delete_are_audited(self) -> None:
        model_admin = ReasonedGroupAdmin(Group, AdminSite())
        request = self._request()
        group = Group.objects.create(name="tmp")
        model_admin.log_change(request, group, [{"changed": {"fields": ["name"]}}])
        model_admin.log_deletions(request, Group.objects.filter(pk=group.pk))
        operations = list(AuditRecord.objects.filter(action="admin_change").values_list("detail__operation", flat=True))
        assert operations == ["change", "delete"]


@pytest.mark.django_db
def test_production_setup_refuses_without_keys_and_changes_nothing(settings: object) -> None:
    from django.core.management import CommandError, call_command

    from scoring.models import ModelVersion

    settings.STRATIFY_PRODUCTION = True  # type: ignore[attr-defined]
    settings.FIELD_ENCRYPTION_KEY = ""  # type: ignore[attr-defined]
    with pytest.raises(CommandError, match="FIELD_ENCRYPTION_KEY is not set"):
        call_command("production_setup")
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_demo_admin_password_hint_survives_a_rerun(monkeypatch: pytest.MonkeyPatch) -> None:
    from io import StringIO

    from django.contrib.auth import get_user_model

    from config.management.commands.demo_setup import Command

    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "first-password-123")
    command = Command(stdout=StringIO())
    command._admin()
    monkeypatch.delenv("DEMO_ADMIN_PASSWORD")
    command._admin()
    assert "manage.py changepassword admin" in command.stdout.getvalue()  # type: ignore[attr-defined]
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "second-password-456")
    command._admin()
    assert get_user_model().objects.get(username="admin").check_password("second-password-456")
