"""Routes of sandbox_ehr.auth (mounted at /sandbox/auth/)."""

from django.urls import URLPattern, URLResolver, path

from sandbox_ehr.auth import views

app_name = "sandbox_auth"

urlpatterns: list[URLPattern | URLResolver] = [
    path("authorize", views.authorize, name="authorize"),
    path("authorize/patient", views.authorize_patient, name="authorize_patient"),
    path("token", views.token, name="token"),
    path("introspect", views.introspect, name="introspect"),
]
