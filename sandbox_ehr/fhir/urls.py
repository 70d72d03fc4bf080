"""Routes of sandbox_ehr.fhir."""
from django.urls import URLPattern, URLResolver

app_name = "sandbox_fhir"

urlpatterns: list[URLPattern | URLResolver] = []
