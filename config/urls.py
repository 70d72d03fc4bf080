"""Top-level URL routes."""
from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from config import health, views

handler400 = "config.api_errors.handler400"
handler403 = "config.api_errors.handler403"
handler404 = "config.api_errors.handler404"
handler500 = "config.api_errors.handler500"

urlpatterns = [
    path("", views.landing, name="landing"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("", include("django_prometheus.urls")),
]

if settings.SANDBOX_EHR_ENABLED:
    urlpatterns.append(path("sandbox/", include("sandbox_ehr.urls")))
