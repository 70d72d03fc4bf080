"""Routes of sandbox_ehr.ehr."""
from django.urls import URLPattern, URLResolver

app_name = "sandbox_sim"

urlpatterns: list[URLPattern | URLResolver] = []
