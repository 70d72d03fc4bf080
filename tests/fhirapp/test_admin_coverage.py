"""Every admin page either writes audited changes or is read-only (issue 7: audit every admin change)."""

from django.contrib import admin

from audit.admin_mixins import AuditedAdminMixin, ReadOnlyAdminMixin

# Audited through their own services (reason required, see scoring/services_registry.py).
AUDITED_BY_SERVICE = {
    "scoring.ModelVersion",
    "scoring.ThresholdPolicy",
    "scoring.PromotionRequest",  # scoring/services_promotion.py
    "fhirapp.WriteBackPolicy",
    "scoring.MonitorPolicy",  # scoring/monitoring/policy.py
    "scoring.OutcomeImport",  # scoring/monitoring/outcomes.py (uploads only; append-only)
    "alerts.AlertPolicy",
}
# Keys are generated and rotated by `manage.py smart_keys` (audited there); admin can only view them.
VIEW_ONLY = {"smart_launch.ClientKey"}
# The sandbox's own OAuth server tables (development only, switched off in production).
SANDBOX_ONLY = {"oauth2_provider"}


def test_every_admin_is_audited_or_read_only() -> None:
    unaudited = []
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label
        if (
            isinstance(model_admin, AuditedAdminMixin | ReadOnlyAdminMixin)
            or label in AUDITED_BY_SERVICE
            or label in VIEW_ONLY
            or model._meta.app_label in SANDBOX_ONLY
        ):
            continue
        unaudited.append(label)
    assert unaudited == []
