"""Least-privilege admin groups: clinician (no admin rights), admin (models, thresholds, clients,
registrations, write-back retry) and auditor (read the audit trail, break-glass, read write-backs)."""

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db import transaction

CLINICIAN, ADMIN, AUDITOR = "clinician", "admin", "auditor"
AUDITOR_PERMISSIONS = (
    "audit.view_auditrecord",
    "audit.break_glass_auditrecord",
    "fhirapp.view_writeback",
    "fhirapp.view_failedwriteback",
)
ADMIN_FHIRAPP_PERMISSIONS = (
    "fhirapp.view_writeback",
    "fhirapp.change_writeback",
    "fhirapp.view_failedwriteback",
    "fhirapp.change_failedwriteback",
)


def _permission(label: str) -> Permission:
    app_label, codename = label.split(".", 1)
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def _model_permissions(label: str, *, view_only: bool) -> list[Permission]:
    app_label, model_name = label.lower().split(".", 1)
    queryset = Permission.objects.filter(content_type__app_label=app_label, content_type__model=model_name)
    return list(queryset.filter(codename__startswith="view_") if view_only else queryset)


def admin_group_permissions() -> list[Permission]:
    """Allowlisted models (settings.GOVERNANCE_ADMIN_*): full or view-only rights, plus write-back retry."""
    permissions = [_permission(label) for label in ADMIN_FHIRAPP_PERMISSIONS]
    for label in settings.GOVERNANCE_ADMIN_MODELS:
        permissions += _model_permissions(label, view_only=False)
    for label in settings.GOVERNANCE_ADMIN_VIEW_MODELS:
        permissions += _model_permissions(label, view_only=True)
    return permissions


@transaction.atomic
def governance_groups_setup() -> dict[str, int]:
    """Create or reset the three groups to exactly their permissions (idempotent); returns counts."""
    wanted = {
        CLINICIAN: [],
        ADMIN: admin_group_permissions(),
        AUDITOR: [_permission(label) for label in AUDITOR_PERMISSIONS],
    }
    counts = {}
    for name, permissions in wanted.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(permissions)
        counts[name] = len(permissions)
    return counts
