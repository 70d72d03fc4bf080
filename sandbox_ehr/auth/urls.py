"""Routes of sandbox_ehr.auth."""
from django.urls import URLPattern, URLResolver

app_name = "sandbox_auth"

urlpatterns: list[URLPattern | URLResolver] = []
