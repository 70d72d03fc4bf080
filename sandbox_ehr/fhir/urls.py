"""Routes of sandbox_ehr.fhir."""

from django.urls import URLPattern, URLResolver, path

from sandbox_ehr.auth import views as auth_views
from sandbox_ehr.fhir import bulk_views, subscription_views, views

app_name = "sandbox_fhir"

urlpatterns: list[URLPattern | URLResolver] = [
    # SMART discovery (owned by sandbox_ehr.auth); listed first so no FHIR route can shadow them.
    path(".well-known/smart-configuration", auth_views.smart_configuration, name="smart_configuration"),
    path(".well-known/openid-configuration", auth_views.openid_configuration, name="openid_configuration"),
    # Bulk Data Access 2.0.0 (sandbox_ehr.fhir.bulk_views), before the type routes that would take `$export`.
    path("$export", bulk_views.system_export, name="system_export"),
    path("Patient/$export", bulk_views.patient_export, name="patient_export"),
    path("Group/<str:group_id>/$export", bulk_views.group_export, name="group_export"),
    path("$export-status/<str:job_id>", bulk_views.export_status, name="export_status"),
    path("$export-files/<str:job_id>/<str:name>", bulk_views.export_file, name="export_file"),
    # Subscriptions R5 Backport operations (sandbox_ehr.fhir.subscription_views), before the instance routes.
    path("Subscription/$status", subscription_views.subscription_status, name="subscription_status"),
    path(
        "Subscription/<str:resource_id>/$status",
        subscription_views.subscription_status,
        name="subscription_instance_status",
    ),
    path("Subscription/<str:resource_id>/$events", subscription_views.subscription_events, name="subscription_events"),
    # FHIR R4 REST (sandbox_ehr.fhir.views).
    path("", views.system, name="base"),
    path("metadata", views.metadata, name="metadata"),
    path("<str:resource_type>", views.type_level, name="type"),
    path("<str:resource_type>/<str:resource_id>", views.instance, name="instance"),
    path("<str:resource_type>/<str:resource_id>/_history/<str:version_id>", views.version, name="version"),
    path("<path:rest>", views.unknown, name="unknown"),
]
