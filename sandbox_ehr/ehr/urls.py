"""Routes of sandbox_ehr.ehr (mounted at /sandbox/ehr/)."""

from django.urls import URLPattern, URLResolver, path

from sandbox_ehr.ehr import views

app_name = "sandbox_sim"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.patients, name="patients"),
    path("patients/<str:patient_id>", views.chart, name="chart"),
    path("patients/<str:patient_id>/launch", views.launch, name="launch"),
    path("patients/<str:patient_id>/discharge", views.discharge, name="discharge"),
    path("patients/<str:patient_id>/replay", views.replay, name="replay"),
    path(".well-known/jwks.json", views.jwks, name="jwks"),
    path("smart-style.json", views.smart_style, name="smart_style"),
]
