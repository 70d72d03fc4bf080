"""Sandbox EHR routes (mounted under /sandbox/ only when SANDBOX_EHR_ENABLED)."""
from django.urls import path

from sandbox_ehr import views

app_name = "sandbox_ehr"

urlpatterns = [
    path("", views.index, name="index"),
]
