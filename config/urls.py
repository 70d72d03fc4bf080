"""Top-level URL routes."""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiYamlRenderer
from drf_spectacular.views import SpectacularAPIView
from rest_framework.renderers import JSONRenderer

from config import health, metrics, views
from smart_launch import views as smart_views

handler400 = "config.api_errors.handler400"
handler403 = "config.api_errors.handler403"
handler404 = "config.api_errors.handler404"
handler500 = "config.api_errors.handler500"

urlpatterns = [
    path("", views.landing, name="landing"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    # The pages that need an account (alert inbox, worklists, monitoring) send the signed-out here (LOGIN_URL).
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("cds-services", include("cds_hooks.urls")),
    path("smart/", include("smart_launch.urls")),
    path("smart/", include("sidebar.urls")),
    path(".well-known/jwks.json", smart_views.jwks, name="smart_jwks"),
    path("models/", include("scoring.urls")),
    path("population/", include("population.urls")),
    path("alerts/", include("alerts.urls")),
    path("realtime/", include("realtime.urls")),
    path("api/subscriptions/", include("realtime.subscription_urls")),
    path("api/population/", include("population.api_urls")),
    # JSON first, so an error (not signed in) has the one error shape in JSON; ?format=yaml gives YAML.
    path(
        "api/schema/",
        SpectacularAPIView.as_view(renderer_classes=[JSONRenderer, OpenApiJsonRenderer, OpenApiYamlRenderer]),
        name="api_schema",
    ),
    path("metrics", metrics.metrics, name="metrics"),
]

if settings.SANDBOX_EHR_ENABLED:
    urlpatterns += [
        path("sandbox/fhir/", include("sandbox_ehr.fhir.urls")),
        path("sandbox/auth/", include("sandbox_ehr.auth.urls")),
        path("sandbox/ehr/", include("sandbox_ehr.ehr.urls")),
    ]
